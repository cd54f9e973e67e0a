// Violation events of the scheduler monitor on the real kernel: a storm of violations from a
// task pinned outside its assignment must end in counted drops, never in a hang, and the event
// file descriptor must wake an epoll loop.
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "bpf/monitor.h"
#include "gtest/gtest.h"
#include "tests/bpf/cgroup_fixture.h"

namespace numapin::bpf {
namespace {

using numapin::testing::ChildProcess;
using numapin::testing::FindCgroupHierarchies;
using numapin::testing::TestCgroup;

constexpr auto kStorm = std::chrono::milliseconds(500);

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the scheduler monitor tests need root";
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "these tests need CPUs 0 and 1";
    auto hierarchy = FindCgroupHierarchies().v2;
    if (!hierarchy) GTEST_SKIP() << "no cgroup2 hierarchy in /proc/mounts";
    auto cgroup = TestCgroup::CreateRoot(*hierarchy, false);
    ASSERT_TRUE(cgroup.ok()) << cgroup.status();
    cgroup_ = std::move(*cgroup);
  }

  void StartMonitor(const MonitorOptions& options) {
    auto monitor = Monitor::Start(options);
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    monitor_ = std::move(*monitor);
    // The task may use CPU 0 only, and the storm runs on CPU 1.
    ASSERT_TRUE(monitor_->TrackCgroup(cgroup_->id(), 0, {0}, {0}).ok());
  }

  void StartStorm() {
    auto child = ChildProcess::Spawn(ChildProcess::Load::kStorm);
    ASSERT_TRUE(child.ok()) << child.status();
    storm_ = std::move(*child);
    ASSERT_TRUE(cgroup_->AddProcess(storm_->pid()).ok());
    ASSERT_TRUE(storm_->PinTo(1).ok());
    ASSERT_TRUE(storm_->Release().ok());
  }

  std::unique_ptr<TestCgroup> cgroup_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<ChildProcess> storm_;
};

TEST_F(EventsTest, RingBufferOverflowCountsDrops) {
  MonitorOptions options;
  options.ringbuf_bytes = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  options.events_per_interval = 1'000'000'000;
  ASSERT_NO_FATAL_FAILURE(StartMonitor(options));
  ASSERT_NO_FATAL_FAILURE(StartStorm());
  std::this_thread::sleep_for(kStorm);
  storm_->Stop();

  auto snapshot = monitor_->ReadCounters();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_GT(snapshot->drops_ringbuf_full, 0u);
  EXPECT_EQ(snapshot->drops_rate_limited, 0u);
  EXPECT_GT(snapshot->events_sent, 0u);
  EXPECT_EQ(snapshot->slots[0].violations, snapshot->events_sent + snapshot->drops_ringbuf_full)
      << "every violation is either sent or counted as dropped";

  auto start = std::chrono::steady_clock::now();
  int delivered = 0;
  auto consumed = monitor_->Consume([&](const ViolationEvent&) { ++delivered; });
  ASSERT_TRUE(consumed.ok()) << consumed.status();
  EXPECT_EQ(*consumed, delivered);
  EXPECT_EQ(static_cast<uint64_t>(delivered), snapshot->events_sent);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));

  auto again = monitor_->Consume([](const ViolationEvent&) {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TEST_F(EventsTest, RateLimitCapsEventsPerSlot) {
  MonitorOptions options;
  options.events_per_interval = 10;
  options.rate_interval = absl::Minutes(10);
  ASSERT_NO_FATAL_FAILURE(StartMonitor(options));
  ASSERT_NO_FATAL_FAILURE(StartStorm());
  std::this_thread::sleep_for(kStorm);
  storm_->Stop();

  int delivered = 0;
  auto consumed = monitor_->Consume([&](const ViolationEvent&) { ++delivered; });
  ASSERT_TRUE(consumed.ok()) << consumed.status();
  auto snapshot = monitor_->ReadCounters();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(delivered, 10);
  EXPECT_EQ(snapshot->events_sent, 10u);
  EXPECT_GT(snapshot->drops_rate_limited, 0u);
  EXPECT_EQ(snapshot->drops_ringbuf_full, 0u);
}

TEST_F(EventsTest, EventFdWakesEpoll) {
  ASSERT_NO_FATAL_FAILURE(StartMonitor(MonitorOptions{}));
  int epoll = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(epoll, 0);
  epoll_event registration{};
  registration.events = EPOLLIN;
  ASSERT_EQ(epoll_ctl(epoll, EPOLL_CTL_ADD, monitor_->event_fd(), &registration), 0);

  epoll_event ready{};
  EXPECT_EQ(epoll_wait(epoll, &ready, 1, 0), 0) << "readable before any violation";
  ASSERT_NO_FATAL_FAILURE(StartStorm());
  int count = epoll_wait(epoll, &ready, 1, 2000);
  storm_->Stop();
  close(epoll);

  EXPECT_EQ(count, 1) << "no wake-up within 2 s of a violation storm";
  auto consumed = monitor_->Consume([](const ViolationEvent&) {});
  ASSERT_TRUE(consumed.ok()) << consumed.status();
  EXPECT_GT(*consumed, 0);
}

TEST_F(EventsTest, StartPrefersTpBtf) {
  auto monitor = Monitor::Start(MonitorOptions{});
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  EXPECT_EQ((*monitor)->attach_type(), AttachType::kTpBtf)
      << "this kernel has BTF, so tp_btf programs should load";
}

TEST_F(EventsTest, StartRejectsRingBufferSize) {
  MonitorOptions options;
  options.ringbuf_bytes = 3 * 4096;
  auto monitor = Monitor::Start(options);
  EXPECT_TRUE(absl::IsInvalidArgument(monitor.status())) << monitor.status();
}

}  // namespace
}  // namespace numapin::bpf
