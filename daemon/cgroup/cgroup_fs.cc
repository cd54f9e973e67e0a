// CgroupFiles over the real file system, every open relative to a descriptor of the root.
#include "daemon/cgroup/cgroup_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace numapin {
namespace {

class RealCgroupFiles : public CgroupFiles {
 public:
  RealCgroupFiles(std::string root, int root_fd) : root_(std::move(root)), root_fd_(root_fd) {}
  ~RealCgroupFiles() override { close(root_fd_); }

  absl::StatusOr<std::string> Read(const std::string& dir, const std::string& file) override {
    absl::StatusOr<int> fd = OpenFile(dir, file, O_RDONLY);
    if (!fd.ok()) return fd.status();
    std::string content;
    char buffer[4096];
    for (;;) {
      ssize_t n = read(*fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        absl::Status status = Error("reading", dir, file);
        close(*fd);
        return status;
      }
      if (n == 0) break;
      content.append(buffer, static_cast<size_t>(n));
    }
    close(*fd);
    return content;
  }

  absl::Status Write(const std::string& dir, const std::string& file,
                     const std::string& value) override {
    absl::StatusOr<int> fd = OpenFile(dir, file, O_WRONLY);
    if (!fd.ok()) return fd.status();
    // Control files take one write(); the kernel rejects the value as a whole.
    ssize_t n = write(*fd, value.data(), value.size());
    absl::Status status = absl::OkStatus();
    if (n < 0) {
      status = Error(absl::StrCat("writing \"", value, "\" to"), dir, file);
    }
    close(*fd);
    return status;
  }

  absl::StatusOr<int> OpenForReading(const std::string& dir, const std::string& file) override {
    return OpenFile(dir, file, O_RDONLY);
  }

  bool IsDirectory(const std::string& dir) override {
    if (dir.empty()) return true;
    if (!ValidateRelativePath(dir).ok()) return false;
    struct stat st;
    return fstatat(root_fd_, dir.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
  }

  absl::StatusOr<std::vector<std::string>> ListDirectories(const std::string& dir) override {
    absl::StatusOr<int> fd = OpenDirectory(dir);
    if (!fd.ok()) return fd.status();
    DIR* stream = fdopendir(*fd);
    if (stream == nullptr) {
      close(*fd);
      return Error("listing", dir, "");
    }
    std::vector<std::string> names;
    while (struct dirent* entry = readdir(stream)) {
      std::string name = entry->d_name;
      if (entry->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
    }
    closedir(stream);
    return names;
  }

  absl::StatusOr<uint64_t> Inode(const std::string& dir) override {
    absl::StatusOr<int> fd = OpenDirectory(dir);
    if (!fd.ok()) return fd.status();
    struct stat st;
    int rc = fstat(*fd, &st);
    close(*fd);
    if (rc != 0) return Error("stat of", dir, "");
    return static_cast<uint64_t>(st.st_ino);
  }

  std::string AbsolutePath(const std::string& dir) const override {
    return dir.empty() ? root_ : absl::StrCat(root_, "/", dir);
  }

 private:
  absl::Status Error(absl::string_view what, const std::string& dir, const std::string& file) {
    int saved = errno;
    std::string path = AbsolutePath(dir);
    if (!file.empty()) absl::StrAppend(&path, "/", file);
    absl::StatusCode code =
        saved == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal;
    return absl::Status(code, absl::StrCat(what, " ", path, " failed: ", std::strerror(saved)));
  }

  absl::StatusOr<int> OpenDirectory(const std::string& dir) {
    if (!dir.empty()) {
      absl::Status valid = ValidateRelativePath(dir);
      if (!valid.ok()) return valid;
    }
    int fd = openat(root_fd_, dir.empty() ? "." : dir.c_str(),
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error("opening", dir, "");
    return fd;
  }

  absl::StatusOr<int> OpenFile(const std::string& dir, const std::string& file, int flags) {
    std::string path = dir.empty() ? file : absl::StrCat(dir, "/", file);
    absl::Status valid = ValidateRelativePath(path);
    if (!valid.ok()) return valid;
    int fd = openat(root_fd_, path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error("opening", dir, file);
    return fd;
  }

  std::string root_;
  int root_fd_;
};

}  // namespace

absl::Status ValidateRelativePath(absl::string_view path) {
  bool valid = !path.empty() && path.front() != '/';
  if (valid) {
    for (absl::string_view part : absl::StrSplit(path, '/')) {
      if (part.empty() || part == "." || part == "..") valid = false;
    }
  }
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cgroup path \"", path, "\" is invalid: expected a relative path without '.' or '..'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CgroupFiles>> OpenCgroupFiles(const std::string& root) {
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("opening cgroup root ", root, " failed: ", std::strerror(errno)));
  }
  return std::make_unique<RealCgroupFiles>(root, fd);
}

}  // namespace numapin
