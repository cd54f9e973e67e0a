// StateDirLock: an exclusive flock on --state-dir, so that two numapinds never claim CPUs from
// one checkpoint. The kernel drops the lock when the process exits, however it exits.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace numapin {

inline constexpr char kStateLockFileName[] = "numapind.lock";

class StateDirLock {
 public:
  // Creates DIR/numapind.lock when missing, takes an exclusive flock on it without waiting and
  // writes this process's PID into it. FailedPrecondition when another process holds the lock,
  // naming the directory and the holder's PID when the file has it.
  static absl::StatusOr<StateDirLock> Acquire(const std::string& dir);

  StateDirLock(StateDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();

 private:
  explicit StateDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace numapin
