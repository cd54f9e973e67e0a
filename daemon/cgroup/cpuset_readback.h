// CpusetReadback: repeated reads of the cpuset.cpus and cpuset.mems of container cgroups, as the
// reconciler does on every run and the read-back does once per --readback-interval for every
// container. Each file stays open between reads and is read again with pread at offset 0, which
// restarts a kernfs seq_file, so a read costs one syscall instead of open, read, read and close.
// Text equal to the file's last read is not parsed again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/cpuset_writer.h"

namespace numapin {

class CpusetReadback {
 public:
  // Keeps at most `max_open_files` descriptors; files beyond that are opened for each read.
  CpusetReadback(CgroupFiles* files, size_t max_open_files);
  ~CpusetReadback();
  CpusetReadback(const CpusetReadback&) = delete;
  CpusetReadback& operator=(const CpusetReadback&) = delete;

  // Reads cpuset.cpus and cpuset.mems of `dir`, as CpusetWriter::Read does: NotFound once the
  // cgroup is gone, Internal when a file does not contain a list. A kept descriptor of a removed
  // cgroup fails with ENODEV. After any failed pread the file is read through its path, so a
  // cgroup removed and made again under the same name is read, not the removed one.
  // NOTE: a renamed cgroup is still read through its kept descriptors, where a read by path would
  // return NotFound. Container runtimes remove and make container cgroups but do not rename them.
  absl::StatusOr<CpusetValues> Read(const std::string& dir);

  // Closes the files of every cgroup not read since the previous call. Call it after a run that
  // read every live container, so that removed containers keep no descriptor.
  void CloseUnread();

  size_t open_files() const { return open_files_; }

  // Half of the soft RLIMIT_NOFILE, leaving the other half to sockets, inotify, BPF and the rest.
  static size_t DefaultMaxOpenFiles();

 private:
  struct File {
    int fd = -1;
    std::string text;  // Last text read, "" before the first read.
  };
  struct Entry {
    File cpus;
    File mems;
    CpusetValues values;  // Parsed from cpus.text and mems.text when parsed is true.
    bool parsed = false;
    uint64_t pass = 0;  // Value of pass_ when last read.
  };

  // Reads `name` of `dir` into file.text and sets *changed when the text differs from the last.
  absl::Status ReadFile(const std::string& dir, const char* name, File& file, bool* changed);
  // Reads the whole file from offset 0 into buffer_ and sets *length; false when pread failed.
  bool ReadKept(int fd, size_t* length);
  void Close(File& file);

  CgroupFiles* files_;
  size_t max_open_files_;
  size_t open_files_ = 0;
  uint64_t pass_ = 1;
  std::map<std::string, Entry> entries_;  // By cgroup directory.
  std::vector<char> buffer_;
  std::string scratch_;  // Text of a file read by path.
};

}  // namespace numapin
