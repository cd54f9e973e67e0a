// Daemon with a fake pod source and a fake scheduler monitor on real v1 cpuset cgroups (root).
// Checks the cgroups and CPU owners the monitor receives, the repair of an outside-run event,
// untracking when the pod goes away, and a checkpoint naming a CPU the topology lacks.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/core/daemon.h"

namespace numapin {
namespace {

constexpr char kUid[] = "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";
constexpr char kId[] = "4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d";
constexpr char kCpusetMount[] = "/sys/fs/cgroup/cpuset";

class FakePodSource : public PodSource {
 public:
  FakePodSource() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakePodSource() override { close(fd_); }
  int fd() const override { return fd_; }
  void RequestRefresh() override { Signal(); }
  std::string name() const override { return "fake"; }

  absl::StatusOr<std::optional<std::vector<Pod>>> Read(std::vector<absl::Status>*) override {
    uint64_t count;
    if (read(fd_, &count, sizeof(count)) != sizeof(count)) return std::nullopt;
    std::lock_guard<std::mutex> lock(mutex_);
    return std::optional<std::vector<Pod>>(pods_);
  }

  void SetPods(std::vector<Pod> pods) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pods_ = std::move(pods);
    }
    Signal();
  }

 private:
  void Signal() {
    uint64_t one = 1;
    (void)!write(fd_, &one, sizeof(one));
  }
  int fd_;
  std::mutex mutex_;
  std::vector<Pod> pods_;
};

// Records the daemon's calls and delivers the events the test queues.
class FakeMonitor : public SchedMonitor {
 public:
  FakeMonitor() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeMonitor() override { close(fd_); }

  absl::Status SetCpu(int cpu, int numa_node, std::optional<uint32_t> owner_slot) override {
    std::lock_guard<std::mutex> lock(mutex);
    owners[cpu] = owner_slot;
    return absl::OkStatus();
  }
  absl::Status TrackCgroup(uint64_t cgroup_id, uint32_t slot, const CpuSet& cpus,
                           const CpuSet& numa_nodes) override {
    std::lock_guard<std::mutex> lock(mutex);
    tracked[cgroup_id] = {slot, cpus};
    return absl::OkStatus();
  }
  absl::Status UntrackCgroup(uint64_t cgroup_id) override {
    std::lock_guard<std::mutex> lock(mutex);
    tracked.erase(cgroup_id);
    return absl::OkStatus();
  }
  absl::StatusOr<MonitorCounters> ReadCounters() override { return MonitorCounters(); }
  int event_fd() const override { return fd_; }
  absl::StatusOr<int> Consume(const std::function<void(const MonitorEvent&)>& callback) override {
    uint64_t count;
    (void)!read(fd_, &count, sizeof(count));
    std::vector<MonitorEvent> events;
    {
      std::lock_guard<std::mutex> lock(mutex);
      events.swap(queued);
    }
    for (const MonitorEvent& event : events) callback(event);
    return static_cast<int>(events.size());
  }
  uint32_t max_slots() const override { return 8; }

  void Queue(MonitorEvent event) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      queued.push_back(event);
    }
    uint64_t one = 1;
    (void)!write(fd_, &one, sizeof(one));
  }

  std::mutex mutex;
  std::map<int, std::optional<uint32_t>> owners;
  std::map<uint64_t, std::pair<uint32_t, CpuSet>> tracked;
  std::vector<MonitorEvent> queued;

 private:
  int fd_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

void WriteFile(const std::string& path, const std::string& value) {
  std::ofstream(path) << value;
}

Pod GuaranteedPod() {
  Pod pod;
  pod.uid = kUid;
  pod.namespace_name = "default";
  pod.name = "web";
  pod.phase = "Running";
  pod.annotations[kPreferredNumaNodeAnnotation] = "1";
  ContainerSpec app;
  app.name = "app";
  app.resources.cpu_request_millis = 1000;
  app.resources.cpu_limit_millis = 1000;
  app.resources.memory_request_bytes = 64 << 20;
  app.resources.memory_limit_bytes = 64 << 20;
  pod.containers.push_back(app);
  ContainerStatus status;
  status.name = "app";
  status.container_id = absl::StrCat("containerd://", kId);
  status.running = true;
  pod.statuses.push_back(status);
  return pod;
}

// Polls `condition` for up to five seconds.
template <typename Condition>
bool WaitFor(Condition condition) {
  for (int i = 0; i < 100; ++i) {
    if (condition()) return true;
    usleep(50000);
  }
  return condition();
}

class DaemonLoopTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || access(kCpusetMount, W_OK) != 0) {
      GTEST_SKIP() << "needs root and a writable v1 cpuset hierarchy at " << kCpusetMount;
    }
    root_ = absl::StrCat(kCpusetMount, "/numapin-test-", getpid());
    container_dir_ = absl::StrCat(root_, "/kubepods/pod", kUid, "/", kId);
    for (const std::string& dir : {root_, root_ + "/kubepods", root_ + "/kubepods/pod" + kUid,
                                   container_dir_}) {
      ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
      made_.push_back(dir);
      const std::string parent = std::filesystem::path(dir).parent_path();
      WriteFile(dir + "/cpuset.cpus", ReadFile(parent + "/cpuset.cpus"));
      WriteFile(dir + "/cpuset.mems", ReadFile(parent + "/cpuset.mems"));
    }
    char pattern[] = "/tmp/numapin-daemon-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    state_dir_ = pattern;

  }

  // Starts the loop on its own thread; the checkpoint, if a test wants one, is written first.
  void StartDaemon() {
    BlockDaemonSignals();
    DaemonOptions options;
    options.cgroup_root = root_;
    options.topology = "synthetic:numa:2 core:1 pu:1";
    options.state_dir = state_dir_;
    options.readback_interval = absl::Seconds(30);
    auto source = std::make_unique<FakePodSource>();
    auto monitor = std::make_unique<FakeMonitor>();
    source_ = source.get();
    monitor_ = monitor.get();
    absl::StatusOr<std::unique_ptr<Daemon>> daemon =
        Daemon::Create(options, std::move(source), &box_, std::move(monitor));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    loop_ = std::thread([this] { run_status_ = daemon_->Run(); });
  }


  void TearDown() override {
    if (loop_.joinable()) {
      kill(getpid(), SIGTERM);
      loop_.join();
      EXPECT_TRUE(run_status_.ok()) << run_status_;
    }
    daemon_.reset();
    for (auto dir = made_.rbegin(); dir != made_.rend(); ++dir) rmdir(dir->c_str());
    if (!state_dir_.empty()) std::filesystem::remove_all(state_dir_);
  }

  uint64_t ContainerInode() {
    struct stat st;
    stat(container_dir_.c_str(), &st);
    return st.st_ino;
  }

  std::string root_;
  std::string container_dir_;
  std::string state_dir_;
  std::vector<std::string> made_;
  SnapshotBox box_;
  FakePodSource* source_ = nullptr;
  FakeMonitor* monitor_ = nullptr;
  std::unique_ptr<Daemon> daemon_;
  std::thread loop_;
  absl::Status run_status_;
};

TEST_F(DaemonLoopTest, TracksPinnedContainerAndItsCpu) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  source_->SetPods({GuaranteedPod()});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));

  std::lock_guard<std::mutex> lock(monitor_->mutex);
  ASSERT_EQ(monitor_->tracked.count(ContainerInode()), 1u) << "tracked by its cgroup's inode";
  const auto& [slot, cpus] = monitor_->tracked.at(ContainerInode());
  EXPECT_EQ(cpus.ToString(), "1");
  ASSERT_TRUE(monitor_->owners.count(1));
  EXPECT_EQ(monitor_->owners.at(1), std::optional<uint32_t>(slot)) << "CPU 1 owned by the slot";
  ASSERT_TRUE(monitor_->owners.count(0));
  EXPECT_EQ(monitor_->owners.at(0), std::nullopt) << "CPU 0 is in the shared pool";
}

TEST_F(DaemonLoopTest, OutsideRunIsRepairedAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  source_->SetPods({GuaranteedPod()});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  uint32_t slot;
  {
    std::lock_guard<std::mutex> lock(monitor_->mutex);
    slot = monitor_->tracked.at(ContainerInode()).first;
  }

  WriteFile(container_dir_ + "/cpuset.cpus", "0");
  MonitorEvent event;
  event.slot = slot;
  event.cpu = 0;
  event.pid = 4242;
  event.comm = "worker";
  monitor_->Queue(event);

  // The read-back is 30 s away, so only the event can have triggered the repair.
  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  EXPECT_TRUE(WaitFor([&] {
    std::shared_ptr<const DaemonSnapshot> snapshot = box_.Get();
    auto repins = snapshot->repins.find("outside");
    return repins != snapshot->repins.end() && repins->second == 1;
  }));
  std::shared_ptr<const DaemonSnapshot> snapshot = box_.Get();
  ASSERT_EQ(snapshot->drift_detected.count("outside"), 1u);
  EXPECT_EQ(snapshot->drift_detected.at("outside"), 1u);
  auto outside = std::find_if(snapshot->recent_violations.begin(),
                              snapshot->recent_violations.end(),
                              [](const Violation& violation) { return violation.kind == "outside"; });
  ASSERT_NE(outside, snapshot->recent_violations.end());
  EXPECT_EQ(outside->comm, "worker");
  EXPECT_EQ(outside->cpu, 0);
  EXPECT_EQ(outside->pid, 4242);
  EXPECT_EQ(snapshot->drift_detected.at("cpuset"), 1u) << "the read-back on the event found it";
}

TEST_F(DaemonLoopTest, RemovedPodIsUntracked) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  source_->SetPods({GuaranteedPod()});
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(monitor_->mutex);
    return monitor_->tracked.count(ContainerInode()) == 1;
  }));

  source_->SetPods({});

  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(monitor_->mutex);
    return monitor_->tracked.empty();
  }));
  std::lock_guard<std::mutex> lock(monitor_->mutex);
  EXPECT_EQ(monitor_->owners.at(1), std::nullopt) << "CPU 1 back in the shared pool";
}

TEST_F(DaemonLoopTest, CheckpointCpuThatNoLongerExistsIsReleased) {
  CheckpointData data;
  CheckpointEntry entry;
  entry.record.pod_uid = kUid;
  entry.record.pod_key = "default/web";
  entry.record.container = "app";
  entry.record.assignment = Assignment{CpuSet{7}, CpuSet{3}, CpuSet{3}};
  data.entries.push_back(entry);
  ASSERT_TRUE(CheckpointStore(state_dir_).Save(data).ok());
  ASSERT_NO_FATAL_FAILURE(StartDaemon());

  source_->SetPods({GuaranteedPod()});

  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }))
      << "a fresh assignment on the topology's CPUs";
  EXPECT_TRUE(WaitFor([&] {
    absl::StatusOr<CheckpointData> saved = CheckpointStore(state_dir_).Load();
    return saved.ok() && saved->entries.size() == 1 &&
           saved->entries[0].record.assignment.cpus.ToString() == "1";
  })) << "the checkpoint no longer holds CPU 7";
}

}  // namespace
}  // namespace numapin
