// CgroupFiles: reads and writes of cgroup control files by path relative to one root directory.
// The real implementation opens everything with openat() from a descriptor of the root and
// rejects paths with "..", "." or empty components, so that no pod uid or container id can make
// numapind touch a file outside the root. Tests use an in-memory fake.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace numapin {

class CgroupFiles {
 public:
  virtual ~CgroupFiles() = default;

  // `dir` is relative to the root ("" is the root itself); `file` is a control file name.
  virtual absl::StatusOr<std::string> Read(const std::string& dir, const std::string& file) = 0;
  virtual absl::Status Write(const std::string& dir, const std::string& file,
                             const std::string& value) = 0;
  // Opens `file` of `dir` for reading and returns the descriptor, which the caller closes.
  // Unimplemented where there are no real files (test fakes), so callers fall back to Read.
  virtual absl::StatusOr<int> OpenForReading(const std::string& dir, const std::string& file) {
    return absl::UnimplementedError(
        absl::StrCat("opening ", AbsolutePath(dir), "/", file, " failed: no real file system"));
  }
  virtual bool IsDirectory(const std::string& dir) = 0;
  // Names of the subdirectories of `dir`.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectories(const std::string& dir) = 0;
  // The directory's inode number, which is the cgroup id BPF programs see.
  virtual absl::StatusOr<uint64_t> Inode(const std::string& dir) = 0;
  // Absolute path, for logs and the snapshot.
  virtual std::string AbsolutePath(const std::string& dir) const = 0;
};

// InvalidArgument naming the path when it is absolute or has an empty, "." or ".." component.
absl::Status ValidateRelativePath(absl::string_view path);

// Opens `root` (which must be a directory) for openat-relative access.
absl::StatusOr<std::unique_ptr<CgroupFiles>> OpenCgroupFiles(const std::string& root);

}  // namespace numapin
