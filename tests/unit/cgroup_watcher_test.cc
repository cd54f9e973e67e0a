// CgroupWatcher: new directories at every level are reported, including those made under a new
// directory before its watch existed.
#include "daemon/cgroup/watcher.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

namespace numapin {
namespace {

class CgroupWatcherTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/numapin-watcher-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    std::filesystem::create_directories(dir_ + "/kubepods/burstable");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static bool Contains(const std::vector<std::string>& paths, const std::string& path) {
    return std::find(paths.begin(), paths.end(), path) != paths.end();
  }

  // Drains until `path` shows up or a second passes.
  static std::vector<std::string> WaitFor(CgroupWatcher& watcher, const std::string& path) {
    std::vector<std::string> seen;
    for (int i = 0; i < 10 && !Contains(seen, path); ++i) {
      struct pollfd pfd = {watcher.fd(), POLLIN, 0};
      poll(&pfd, 1, 100);
      CgroupWatcher::Events events = watcher.Drain();
      seen.insert(seen.end(), events.created.begin(), events.created.end());
    }
    return seen;
  }

  std::string dir_;
};

TEST_F(CgroupWatcherTest, ReportsPodAndContainerDirectories) {
  absl::StatusOr<std::unique_ptr<CgroupWatcher>> watcher =
      CgroupWatcher::Create(dir_, "kubepods");
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  std::filesystem::create_directories(dir_ + "/kubepods/burstable/podab");
  std::vector<std::string> seen = WaitFor(**watcher, "kubepods/burstable/podab");
  EXPECT_TRUE(Contains(seen, "kubepods/burstable/podab"));

  std::filesystem::create_directories(dir_ + "/kubepods/burstable/podab/c1");
  seen = WaitFor(**watcher, "kubepods/burstable/podab/c1");
  EXPECT_TRUE(Contains(seen, "kubepods/burstable/podab/c1"));
}

TEST_F(CgroupWatcherTest, ReportsChildrenMadeBeforeWatchTook) {
  absl::StatusOr<std::unique_ptr<CgroupWatcher>> watcher =
      CgroupWatcher::Create(dir_, "kubepods");
  ASSERT_TRUE(watcher.ok()) << watcher.status();

  // Both levels exist by the time the watcher reads the first event.
  std::filesystem::create_directories(dir_ + "/kubepods/podcd/c2");
  std::vector<std::string> seen = WaitFor(**watcher, "kubepods/podcd/c2");
  EXPECT_TRUE(Contains(seen, "kubepods/podcd"));
  EXPECT_TRUE(Contains(seen, "kubepods/podcd/c2"));
}

TEST_F(CgroupWatcherTest, ReportsRemovedDirectories) {
  std::filesystem::create_directories(dir_ + "/kubepods/podef");
  absl::StatusOr<std::unique_ptr<CgroupWatcher>> watcher =
      CgroupWatcher::Create(dir_, "kubepods");
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  std::filesystem::remove(dir_ + "/kubepods/podef");
  struct pollfd pfd = {(*watcher)->fd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 1000), 1);
  CgroupWatcher::Events events = (*watcher)->Drain();
  EXPECT_TRUE(Contains(events.removed, "kubepods/podef"));
}

}  // namespace
}  // namespace numapin
