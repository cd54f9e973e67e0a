// CpusetReadback: kept descriptors, pread at offset 0, and parsing only text that changed.
#include "daemon/cgroup/cpuset_readback.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace numapin {
namespace {

constexpr size_t kInitialBuffer = 4096;

}  // namespace

CpusetReadback::CpusetReadback(CgroupFiles* files, size_t max_open_files)
    : files_(files), max_open_files_(max_open_files), buffer_(kInitialBuffer) {}

CpusetReadback::~CpusetReadback() {
  for (auto& [dir, entry] : entries_) {
    Close(entry.cpus);
    Close(entry.mems);
  }
}

size_t CpusetReadback::DefaultMaxOpenFiles() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur == RLIM_INFINITY) return size_t{1} << 20;
  return static_cast<size_t>(limit.rlim_cur / 2);
}

void CpusetReadback::Close(File& file) {
  if (file.fd < 0) return;
  close(file.fd);
  file.fd = -1;
  --open_files_;
}

// A seq_file read returns all the text that fits, so a read that leaves room in the buffer has
// reached the end. A read that fills the buffer goes on at its offset into a larger buffer.
bool CpusetReadback::ReadKept(int fd, size_t* length) {
  *length = 0;
  for (;;) {
    if (*length == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    ssize_t n =
        pread(fd, buffer_.data() + *length, buffer_.size() - *length, static_cast<off_t>(*length));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    *length += static_cast<size_t>(n);
    if (*length < buffer_.size()) return true;
  }
}

absl::Status CpusetReadback::ReadFile(const std::string& dir, const char* name, File& file,
                                      bool* changed) {
  if (file.fd < 0 && open_files_ < max_open_files_) {
    absl::StatusOr<int> fd = files_->OpenForReading(dir, name);
    if (fd.ok()) {
      file.fd = *fd;
      ++open_files_;
    } else if (!absl::IsUnimplemented(fd.status())) {
      return fd.status();
    }
  }

  absl::string_view text;
  if (file.fd >= 0) {
    size_t length = 0;
    if (ReadKept(file.fd, &length)) {
      text = absl::string_view(buffer_.data(), length);
    } else {
      // ENODEV once the cgroup was removed. The path read below decides between NotFound and a
      // cgroup made again under the same name; the next read opens a descriptor again.
      Close(file);
    }
  }
  if (file.fd < 0) {
    absl::StatusOr<std::string> read = files_->Read(dir, name);
    if (!read.ok()) return read.status();
    scratch_ = *std::move(read);
    text = scratch_;
  }

  *changed = text != absl::string_view(file.text);
  if (*changed) file.text.assign(text.data(), text.size());
  return absl::OkStatus();
}

absl::StatusOr<CpusetValues> CpusetReadback::Read(const std::string& dir) {
  auto [it, inserted] = entries_.try_emplace(dir);
  Entry& entry = it->second;
  entry.pass = pass_;

  bool cpus_changed = false;
  bool mems_changed = false;
  absl::Status status = ReadFile(dir, "cpuset.cpus", entry.cpus, &cpus_changed);
  if (status.ok()) status = ReadFile(dir, "cpuset.mems", entry.mems, &mems_changed);
  if (!status.ok()) {
    Close(entry.cpus);
    Close(entry.mems);
    entries_.erase(it);
    return status;
  }

  if (!entry.parsed || cpus_changed || mems_changed) {
    entry.parsed = false;
    absl::StatusOr<CpuSet> cpus = ParseCpusetFile(*files_, dir, "cpuset.cpus", entry.cpus.text);
    if (!cpus.ok()) return cpus.status();
    absl::StatusOr<CpuSet> mems = ParseCpusetFile(*files_, dir, "cpuset.mems", entry.mems.text);
    if (!mems.ok()) return mems.status();
    entry.values.cpus = *std::move(cpus);
    entry.values.mems = *std::move(mems);
    entry.parsed = true;
  }
  return entry.values;
}

void CpusetReadback::CloseUnread() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.pass == pass_) {
      ++it;
      continue;
    }
    Close(it->second.cpus);
    Close(it->second.mems);
    it = entries_.erase(it);
  }
  ++pass_;
}

}  // namespace numapin
