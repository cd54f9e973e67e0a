// StateDirLock: an exclusive flock on --state-dir, so that two numapinds never claim CPUs from
// one checkpoint. The kernel drops the lock when the process exits, however it exits.
#pragma once

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace numapin {

inline constexpr char kStateLockFileName[] = "numapind.lock";

class StateDirLock {
 public:
  // Creates DIR/numapind.lock when missing, takes an exclusive flock on it without waiting and
  // writes this process's PID into it. FailedPrecondition when another process holds the lock,
  // naming the directory and the holder's PID when the file has it.
  static absl::StatusOr<StateDirLock> Acquire(const std::string& dir);

  // Checks that DIR/numapind.lock is still the file this lock holds. When the file or the whole
  // directory was deleted (or replaced), takes the lock again on a new file and returns true, so
  // that a second daemon started on the directory still finds it held. Returns false when the
  // lock is intact, and FailedPrecondition when another process took the new file first.
  absl::StatusOr<bool> Reassert();

  StateDirLock(StateDirLock&& other) noexcept : fd_(other.fd_), dir_(std::move(other.dir_)) {
    other.fd_ = -1;
  }
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();

 private:
  StateDirLock(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}
  int fd_ = -1;
  std::string dir_;
};

}  // namespace numapin
