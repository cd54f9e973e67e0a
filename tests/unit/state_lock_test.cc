// StateDirLock on a temporary directory: one holder at a time, an error for the second naming the
// directory and the holder's PID, and the lock free again once the holder is gone.
#include "daemon/state/state_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

class StateDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/numapin-lock-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateDirLockTest, SecondHolderIsRejected) {
  absl::StatusOr<StateDirLock> first = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<StateDirLock> second = StateDirLock::Acquire(dir_);

  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(second.status().message());
  EXPECT_NE(message.find(absl::StrCat("state directory ", dir_)), std::string::npos) << message;
  EXPECT_NE(message.find(absl::StrCat("(PID ", getpid(), ")")), std::string::npos) << message;
  EXPECT_NE(message.find("--state-dir"), std::string::npos) << message;
}

TEST_F(StateDirLockTest, ReleasedLockCanBeTakenAgain) {
  {
    absl::StatusOr<StateDirLock> first = StateDirLock::Acquire(dir_);
    ASSERT_TRUE(first.ok()) << first.status();
  }
  absl::StatusOr<StateDirLock> again = StateDirLock::Acquire(dir_);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(StateDirLockTest, MovedLockStaysHeld) {
  absl::StatusOr<StateDirLock> first = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(first.ok()) << first.status();
  StateDirLock moved = *std::move(first);

  EXPECT_FALSE(StateDirLock::Acquire(dir_).ok());
}

TEST_F(StateDirLockTest, IntactLockIsNotRetaken) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(lock.ok()) << lock.status();

  absl::StatusOr<bool> retaken = lock->Reassert();

  ASSERT_TRUE(retaken.ok()) << retaken.status();
  EXPECT_FALSE(*retaken);
}

TEST_F(StateDirLockTest, DeletedDirectoryIsLockedAgain) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directory(dir_);
  ASSERT_TRUE(StateDirLock::Acquire(dir_).ok()) << "the new directory starts unlocked";

  absl::StatusOr<bool> retaken = lock->Reassert();

  ASSERT_TRUE(retaken.ok()) << retaken.status();
  EXPECT_TRUE(*retaken);
  EXPECT_FALSE(StateDirLock::Acquire(dir_).ok());
}

TEST_F(StateDirLockTest, NewFileTakenByAnotherIsAnError) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  std::filesystem::remove(dir_ + "/numapind.lock");
  absl::StatusOr<StateDirLock> other = StateDirLock::Acquire(dir_);
  ASSERT_TRUE(other.ok()) << other.status();

  absl::StatusOr<bool> retaken = lock->Reassert();

  ASSERT_FALSE(retaken.ok());
  EXPECT_EQ(retaken.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(StateDirLockTest, MissingDirectoryNamesPath) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir_ + "/missing");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.status().message().find(dir_ + "/missing/numapind.lock"), std::string::npos)
      << lock.status();
}

}  // namespace
}  // namespace numapin
