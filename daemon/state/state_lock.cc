// StateDirLock: flock(2) on DIR/numapind.lock, with the holder's PID in the file for the error
// a second daemon reports.
#include "daemon/state/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

// The PID the holder wrote, or "" when the file has none yet (it may be between its flock and
// its write).
std::string ReadHolderPid(int fd) {
  char buffer[32] = {};
  ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "";
  std::string text(absl::StripAsciiWhitespace(absl::string_view(buffer, n)));
  int pid = 0;
  return absl::SimpleAtoi(text, &pid) && pid > 0 ? text : "";
}

}  // namespace

absl::StatusOr<StateDirLock> StateDirLock::Acquire(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kStateLockFileName);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("opening lock file ", path, " failed: ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    const std::string holder = ReadHolderPid(fd);
    close(fd);
    if (saved != EWOULDBLOCK) {
      return absl::InternalError(absl::StrCat("locking ", path, " failed: ", std::strerror(saved)));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("state directory ", dir, " is in use by another numapind",
                     holder.empty() ? "" : absl::StrCat(" (PID ", holder, ")"),
                     "; stop that one first, or give this one its own --state-dir"));
  }
  // Without the PID the lock still holds; a second daemon's error then names only the directory.
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid.data(), pid.size(), 0);
  return StateDirLock(fd, dir);
}

absl::StatusOr<bool> StateDirLock::Reassert() {
  const std::string path = absl::StrCat(dir_, "/", kStateLockFileName);
  struct stat held {};
  struct stat named {};
  if (fd_ >= 0 && fstat(fd_, &held) == 0 && stat(path.c_str(), &named) == 0 &&
      held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
    return false;
  }
  absl::StatusOr<StateDirLock> fresh = Acquire(dir_);
  if (!fresh.ok()) return fresh.status();
  *this = *std::move(fresh);
  return true;
}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    dir_ = std::move(other.dir_);
    other.fd_ = -1;
  }
  return *this;
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace numapin
