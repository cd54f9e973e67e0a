// Daemon with a fake pod source and a fake scheduler monitor on real v1 cpuset cgroups (root).
// Checks the cgroups and CPU owners the monitor receives, the repair of an outside-run event,
// untracking when the pod goes away, and restart recovery: checkpoint records that are wrong
// fall back to the live cpuset or hold it, and a rebuild adopts no shared-pool cpuset. A
// container with an invalid id gets no CPUs, a second daemon on one --state-dir fails, and a
// vanished container cgroup or kubepods tree is logged once. An edited manifest moves no
// running container, and a container that newly appears in it is pinned, also when it appeared
// while numapind was down. A checkpointed pod that the first pod list leaves out keeps its CPU,
// and a restored record whose container's request changed while numapind was down is kept with
// a warning, also from other pods. A record on a now reserved CPU is reassigned. A container
// or sidecar removed from the manifest keeps its CPU until its cgroup is gone, also across a
// restart, and gets a CPU again when it comes back under its name. In observe mode on the
// host's topology, a cpuset that matches cpu_manager_state is no drift. A state dump that
// cannot be written, and a second pod with a taken uid, are logged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/core/daemon.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

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

void WriteFile(const std::string& path, const std::string& value) { std::ofstream(path) << value; }

Pod GuaranteedPod(int64_t cpu_millis = 1000, const std::string& preferred_node = "1") {
  Pod pod;
  pod.uid = kUid;
  pod.namespace_name = "default";
  pod.name = "web";
  pod.phase = "Running";
  pod.annotations[kPreferredNumaNodeAnnotation] = preferred_node;
  ContainerSpec app;
  app.name = "app";
  app.resources.cpu_request_millis = cpu_millis;
  app.resources.cpu_limit_millis = cpu_millis;
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

constexpr char kBurstableUid[] = "5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f";
constexpr char kBurstableId[] = "9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d";

Pod BurstablePod() {
  Pod pod;
  pod.uid = kBurstableUid;
  pod.namespace_name = "default";
  pod.name = "batch";
  pod.phase = "Running";
  ContainerSpec app;
  app.name = "app";
  app.resources.cpu_request_millis = 100;
  pod.containers.push_back(app);
  ContainerStatus status;
  status.name = "app";
  status.container_id = absl::StrCat("containerd://", kBurstableId);
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
    for (const std::string& dir :
         {root_, root_ + "/kubepods", root_ + "/kubepods/pod" + kUid, container_dir_}) {
      ASSERT_NO_FATAL_FAILURE(MakeCgroup(dir));
    }
    char pattern[] = "/tmp/numapin-daemon-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    state_dir_ = pattern;

    // The daemon's lines go to stdout as before and to a ring buffer that LogCount reads.
    log_lines_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024);
    spdlog::sinks_init_list sinks = {log_lines_, std::make_shared<spdlog::sinks::stdout_sink_mt>()};
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sinks));
  }

  // How many logged lines carry `message`.
  int LogCount(const std::string& message) const {
    int count = 0;
    for (const std::string& line : log_lines_->last_formatted()) {
      if (line.find("\"" + message + "\"") != std::string::npos) ++count;
    }
    return count;
  }

  // The last logged line that carries `message`, or "" when none does.
  std::string LogLine(const std::string& message) const {
    std::string found;
    for (const std::string& line : log_lines_->last_formatted()) {
      if (line.find("\"" + message + "\"") != std::string::npos) found = line;
    }
    return found;
  }

  // Makes a cpuset cgroup with its parent's cpus and mems, removed again in TearDown.
  void MakeCgroup(const std::string& dir) {
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
    made_.push_back(dir);
    const std::string parent = std::filesystem::path(dir).parent_path();
    WriteFile(dir + "/cpuset.cpus", ReadFile(parent + "/cpuset.cpus"));
    WriteFile(dir + "/cpuset.mems", ReadFile(parent + "/cpuset.mems"));
  }

  DaemonOptions Options() const {
    DaemonOptions options;
    options.cgroup_root = root_;
    options.topology = "synthetic:numa:2 core:1 pu:1";
    options.state_dir = state_dir_;
    options.readback_interval = readback_interval_;
    options.allocator.reserved_cpus = reserved_cpus_;
    if (adjust_options_) adjust_options_(options);
    return options;
  }

  // Starts the loop on its own thread, after writing the checkpoint if the test made one. `pods`
  // are listed from the first read on, so the first pod sync, which restores the checkpoint,
  // includes them.
  void StartDaemon(std::vector<Pod> pods = {}) {
    BlockDaemonSignals();
    auto source = std::make_unique<FakePodSource>();
    if (!pods.empty()) source->SetPods(std::move(pods));
    auto monitor = std::make_unique<FakeMonitor>();
    source_ = source.get();
    monitor_ = monitor.get();
    absl::StatusOr<std::unique_ptr<Daemon>> daemon =
        Daemon::Create(Options(), std::move(source), &box_, std::move(monitor));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    loop_ = std::thread([this] { run_status_ = daemon_->Run(); });
  }

  // Writes a checkpoint with one record for the test pod's container "app", with `container_id`.
  void SaveCheckpoint(CpuSet cpus, const std::string& container_id = "") {
    CheckpointData data;
    CheckpointEntry entry;
    entry.record.pod_uid = kUid;
    entry.record.pod_key = "default/web";
    entry.record.container = "app";
    entry.record.assignment = Assignment{cpus, CpuSet{0}, CpuSet{0}};
    entry.container_id = container_id;
    data.entries.push_back(entry);
    ASSERT_TRUE(CheckpointStore(state_dir_).Save(data).ok());
  }

  // The CPUs of the checkpoint's only record, or "" when it has none or another count.
  std::string CheckpointCpus() const {
    absl::StatusOr<CheckpointData> saved = CheckpointStore(state_dir_).Load();
    if (!saved.ok() || saved->entries.size() != 1) return "";
    return saved->entries[0].record.assignment.cpus.ToString();
  }

  // The test pod's container "app" in the latest snapshot, if the snapshot has it.
  std::optional<ContainerState> SnapshotApp() const {
    std::shared_ptr<const DaemonSnapshot> snapshot = box_.Get();
    for (const ContainerState& container : snapshot->containers) {
      if (container.pod_uid == kUid && container.container == "app") return container;
    }
    return std::nullopt;
  }

  // The test pod with a second container "logger" of the same request, whose cgroup is made.
  Pod PodWithLogger(const std::string& logger_dir, const std::string& logger_id) {
    EXPECT_NO_FATAL_FAILURE(MakeCgroup(logger_dir));
    Pod pod = GuaranteedPod();
    ContainerSpec logger = pod.containers[0];
    logger.name = "logger";
    pod.containers.push_back(logger);
    ContainerStatus status = pod.statuses[0];
    status.name = "logger";
    status.container_id = "containerd://" + logger_id;
    pod.statuses.push_back(status);
    return pod;
  }

  // A second Guaranteed pod "other" of one 1-CPU container, whose cgroups are made. Its
  // container's cgroup goes to `dir`.
  Pod OtherPod(std::string* dir) {
    const std::string uid = "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
    const std::string id(64, 'c');
    *dir = absl::StrCat(root_, "/kubepods/pod", uid, "/", id);
    EXPECT_NO_FATAL_FAILURE(MakeCgroup(absl::StrCat(root_, "/kubepods/pod", uid)));
    EXPECT_NO_FATAL_FAILURE(MakeCgroup(*dir));
    Pod other = GuaranteedPod(1000, "1");
    other.uid = uid;
    other.name = "other";
    other.statuses[0].container_id = "containerd://" + id;
    return other;
  }

  // The container "logger" in the latest snapshot, if the snapshot has it.
  std::optional<ContainerState> SnapshotLogger() const {
    for (const ContainerState& container : box_.Get()->containers) {
      if (container.container == "logger") return container;
    }
    return std::nullopt;
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
  absl::Duration readback_interval_ = absl::Seconds(30);
  CpuSet reserved_cpus_;
  std::function<void(DaemonOptions&)> adjust_options_;  // Applied last in Options().
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_lines_;
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
  auto outside =
      std::find_if(snapshot->recent_violations.begin(), snapshot->recent_violations.end(),
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

TEST_F(DaemonLoopTest, CheckpointCpuNotInTopologyKeepsLiveCpu) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{7}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  // A fresh assignment would follow the annotation to node 0 and move the container.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(1000, "0")}));

  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; }))
      << "the live cpuset replaces CPU 7; checkpoint has \"" << CheckpointCpus() << "\"";
  ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value() && SnapshotApp()->exclusive; }));
  EXPECT_EQ(SnapshotApp()->cpus.ToString(), "1");
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1") << "the container was not moved";
}

TEST_F(DaemonLoopTest, WrongCheckpointRecordHoldsLiveCpu) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{7}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  // Two CPUs would empty the shared pool, so neither the record nor a fresh assignment can
  // stand. The CPU the container runs on is held for it.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(2000, "1")}));

  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; }))
      << "CPU 1 is held; checkpoint has \"" << CheckpointCpus() << "\"";
  ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value() && SnapshotApp()->exclusive; }));
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1");
  std::shared_ptr<const DaemonSnapshot> snapshot = box_.Get();
  ASSERT_EQ(snapshot->cpus.size(), 2u);
  EXPECT_EQ(snapshot->cpus[1].owner, CpuOwner::kExclusive) << "CPU 1 is out of the shared pool";
}

TEST_F(DaemonLoopTest, RebuildSkipsSharedPoolCpuset) {
  WriteFile(state_dir_ + "/" + kCheckpointFileName, "not a checkpoint");
  const std::string burstable = root_ + "/kubepods/burstable";
  const std::string burstable_dir =
      absl::StrCat(burstable, "/pod", kBurstableUid, "/", kBurstableId);
  for (const std::string& dir :
       {burstable, absl::StrCat(burstable, "/pod", kBurstableUid), burstable_dir}) {
    ASSERT_NO_FATAL_FAILURE(MakeCgroup(dir));
  }
  // Both containers run in the shared pool CPU 0 that the earlier numapind left.
  WriteFile(container_dir_ + "/cpuset.cpus", "0");
  WriteFile(burstable_dir + "/cpuset.cpus", "0");
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(), BurstablePod()}));

  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; }))
      << "a fresh assignment on node 1, not the shared CPU 0; checkpoint has \"" << CheckpointCpus()
      << "\"";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  EXPECT_TRUE(WaitFor([&] { return ReadFile(burstable_dir + "/cpuset.cpus") == "0"; }));
}

TEST_F(DaemonLoopTest, InvalidContainerIdGetsNoCpus) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Pod pod = GuaranteedPod();
  pod.statuses[0].container_id = "containerd://../../escape";

  source_->SetPods({pod});

  ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value(); }));
  std::optional<ContainerState> app = SnapshotApp();
  EXPECT_FALSE(app->exclusive);
  EXPECT_NE(app->error.find("container id \"containerd://../../escape\" is invalid"),
            std::string::npos)
      << app->error;
  EXPECT_EQ(box_.Get()->cpus[1].owner, CpuOwner::kShared) << "CPU 1 is not held for it";
  EXPECT_EQ(CheckpointCpus(), "") << "no assignment was recorded";
}

TEST_F(DaemonLoopTest, SecondDaemonOnStateDirFails) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  SnapshotBox other_box;

  absl::StatusOr<std::unique_ptr<Daemon>> second = Daemon::Create(
      Options(), std::make_unique<FakePodSource>(), &other_box, std::make_unique<FakeMonitor>());

  ASSERT_FALSE(second.ok());
  const std::string message(second.status().message());
  EXPECT_NE(message.find(absl::StrCat("state directory ", state_dir_)), std::string::npos)
      << message;
  EXPECT_NE(message.find(absl::StrCat("PID ", getpid())), std::string::npos) << message;
}

TEST_F(DaemonLoopTest, VanishedContainerCgroupIsLoggedOnce) {
  readback_interval_ = absl::Milliseconds(50);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod()}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));

  ASSERT_EQ(rmdir(container_dir_.c_str()), 0) << container_dir_;

  EXPECT_TRUE(WaitFor([&] { return LogCount("Container cgroup vanished") >= 1; }));
  usleep(500000);  // About ten more read-back ticks, which must not log it again.
  EXPECT_EQ(LogCount("Container cgroup vanished"), 1);
  EXPECT_TRUE(
      WaitFor([&] { return SnapshotApp().has_value() && SnapshotApp()->cgroup_path.empty(); }));
}

TEST_F(DaemonLoopTest, VanishedKubepodsIsLoggedOnce) {
  readback_interval_ = absl::Milliseconds(50);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod()}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));

  for (auto dir = made_.rbegin(); dir != made_.rend() - 1; ++dir) {
    ASSERT_EQ(rmdir(dir->c_str()), 0) << *dir;
  }

  EXPECT_TRUE(WaitFor([&] {
    return LogCount("Kubepods cgroup vanished; no container is pinned until it is back") >= 1;
  }));
  usleep(500000);
  EXPECT_EQ(LogCount("Kubepods cgroup vanished; no container is pinned until it is back"), 1);

  const std::vector<std::string> tree(made_.begin() + 1, made_.end());
  made_.resize(1);
  for (const std::string& dir : tree) ASSERT_NO_FATAL_FAILURE(MakeCgroup(dir));

  EXPECT_TRUE(WaitFor([&] { return LogCount("Kubepods cgroup is back; watching it again") == 1; }));
  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }))
      << "the container is pinned again in the new tree";
}

TEST_F(DaemonLoopTest, EditedManifestMovesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(1000, "1")}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  const std::string changed =
      "Pod manifest changed; running containers keep their CPUs and NUMA nodes";

  source_->SetPods({GuaranteedPod(2000, "0")});
  ASSERT_TRUE(WaitFor([&] { return LogCount(changed) >= 1; }));
  source_->SetPods({GuaranteedPod(2000, "0")});
  source_->SetPods({GuaranteedPod(2000, "0")});
  usleep(300000);

  EXPECT_EQ(LogCount(changed), 1) << "logged once per change";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1");
  EXPECT_EQ(CheckpointCpus(), "1");
  ASSERT_TRUE(SnapshotApp().has_value());
  EXPECT_EQ(SnapshotApp()->cpus.ToString(), "1");
}

TEST_F(DaemonLoopTest, NewContainerInRunningPodIsPinned) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod()}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  source_->SetPods({PodWithLogger(logger_dir, logger_id)});

  // CPU 0 is the shared pool's last CPU, so the new container runs there, with the reason.
  EXPECT_TRUE(WaitFor([&] { return ReadFile(logger_dir + "/cpuset.cpus") == "0"; }));
  std::optional<ContainerState> state = SnapshotLogger();
  ASSERT_TRUE(state.has_value()) << "the new container is tracked";
  EXPECT_FALSE(state->exclusive);
  EXPECT_NE(state->error.find("shared pool"), std::string::npos) << state->error;
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1") << "app keeps its CPU";
}

TEST_F(DaemonLoopTest, RemovedContainerFreesCpuAfterCgroup) {
  readback_interval_ = absl::Milliseconds(50);
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  Pod pod = PodWithLogger(logger_dir, logger_id);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(logger_dir + "/cpuset.cpus") == "0"; }));
  const std::string released =
      "Released a container removed from its pod's manifest; it has no cgroup";

  // "app" leaves the manifest, but its cgroup still exists.
  pod.containers.erase(pod.containers.begin());
  pod.statuses.erase(pod.statuses.begin());
  source_->SetPods({pod});
  ASSERT_TRUE(WaitFor([&] {
    return LogCount("Pod manifest changed; running containers keep their CPUs and NUMA nodes") == 1;
  }));
  usleep(300000);  // About six read-back ticks, which must keep CPU 1 while the cgroup exists.
  EXPECT_EQ(box_.Get()->cpus[1].owner, CpuOwner::kExclusive) << "CPU 1 is still held for app";
  EXPECT_EQ(CheckpointCpus(), "1");
  EXPECT_EQ(LogCount(released), 0);

  ASSERT_EQ(rmdir(container_dir_.c_str()), 0) << container_dir_;

  EXPECT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }))
      << "CPU 1 is back in the shared pool";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(logger_dir + "/cpuset.cpus") == "0-1"; }))
      << "the shared pool grew; logger has " << ReadFile(logger_dir + "/cpuset.cpus");
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus().empty(); })) << "the checkpoint dropped app";
  EXPECT_FALSE(SnapshotApp().has_value()) << "app is no longer tracked";
  EXPECT_EQ(LogCount(released), 1);
}

TEST_F(DaemonLoopTest, RemovedUnstartedContainerFreesCpu) {
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  Pod pod = PodWithLogger(logger_dir, logger_id);
  pod.statuses[0].container_id = "";  // "app" has not started, so no cgroup can be found for it.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));
  ASSERT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; })) << "CPU 1 is assigned to app";

  pod.containers.erase(pod.containers.begin());
  pod.statuses.erase(pod.statuses.begin());
  source_->SetPods({pod});

  EXPECT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }))
      << "CPU 1 is back in the shared pool";
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus().empty(); })) << "the checkpoint dropped app";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(logger_dir + "/cpuset.cpus") == "0-1"; }))
      << "logger has " << ReadFile(logger_dir + "/cpuset.cpus");
}

TEST_F(DaemonLoopTest, RemovedSidecarFreesCpuAfterCgroup) {
  readback_interval_ = absl::Milliseconds(50);
  // "proxy" is a sidecar with CPU 1. "app" requests half a CPU, so it runs in the shared pool.
  Pod pod = GuaranteedPod(500);
  ContainerSpec proxy = GuaranteedPod().containers[0];
  proxy.name = "proxy";
  proxy.init = true;
  proxy.sidecar = true;
  pod.init_containers.push_back(proxy);
  const std::string proxy_id(64, 'b');
  const std::string proxy_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", proxy_id);
  ASSERT_NO_FATAL_FAILURE(MakeCgroup(proxy_dir));
  ContainerStatus status = pod.statuses[0];
  status.name = "proxy";
  status.init = true;
  status.container_id = "containerd://" + proxy_id;
  pod.statuses.push_back(status);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(proxy_dir + "/cpuset.cpus") == "1"; }))
      << "proxy has " << ReadFile(proxy_dir + "/cpuset.cpus");

  pod.init_containers.clear();
  pod.statuses.pop_back();
  source_->SetPods({pod});
  usleep(300000);  // About six read-back ticks, which must keep CPU 1 while the cgroup exists.
  EXPECT_EQ(box_.Get()->cpus[1].owner, CpuOwner::kExclusive) << "CPU 1 is still held for proxy";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "0");
  EXPECT_EQ(CheckpointCpus(), "1");

  ASSERT_EQ(rmdir(proxy_dir.c_str()), 0) << proxy_dir;
  EXPECT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }))
      << "CPU 1 is back in the shared pool";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "0-1"; }))
      << "app has " << ReadFile(container_dir_ + "/cpuset.cpus");
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus().empty(); })) << "the checkpoint dropped proxy";
}

TEST_F(DaemonLoopTest, RemovedContainerKeepsCpuAcrossRestart) {
  readback_interval_ = absl::Milliseconds(50);
  // "app" left the manifest before numapind stopped; its cgroup still exists at the restart.
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}, kId));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  Pod pod = PodWithLogger(logger_dir, logger_id);
  pod.containers.erase(pod.containers.begin());
  pod.statuses.erase(pod.statuses.begin());
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));

  ASSERT_TRUE(WaitFor([&] { return SnapshotLogger().has_value(); }));
  usleep(300000);  // About six read-back ticks, which must keep CPU 1 while the cgroup exists.
  EXPECT_EQ(box_.Get()->cpus[1].owner, CpuOwner::kExclusive) << "CPU 1 is still held for app";
  EXPECT_FALSE(SnapshotLogger()->exclusive) << "logger must not get the CPU app runs on";
  EXPECT_EQ(ReadFile(logger_dir + "/cpuset.cpus"), "0");
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1");
  absl::StatusOr<CheckpointData> saved = CheckpointStore(state_dir_).Load();
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->entries.size(), 1u);
  EXPECT_EQ(saved->entries[0].record.container, "app");
  EXPECT_EQ(saved->entries[0].record.assignment.cpus.ToString(), "1");

  ASSERT_EQ(rmdir(container_dir_.c_str()), 0) << container_dir_;
  EXPECT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }))
      << "CPU 1 is back in the shared pool";
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus().empty(); })) << "the checkpoint dropped app";
  EXPECT_FALSE(SnapshotApp().has_value()) << "app is no longer tracked";
}

TEST_F(DaemonLoopTest, ReaddedContainerGetsCpuAgain) {
  readback_interval_ = absl::Milliseconds(50);
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  const Pod full = PodWithLogger(logger_dir, logger_id);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({full}));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));
  Pod without_app = full;
  without_app.containers.erase(without_app.containers.begin());
  without_app.statuses.erase(without_app.statuses.begin());
  source_->SetPods({without_app});
  ASSERT_EQ(rmdir(container_dir_.c_str()), 0) << container_dir_;
  ASSERT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }));

  // "app" comes back under its name, as a new container with a new cgroup.
  const std::string new_id(64, 'a');
  const std::string new_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", new_id);
  ASSERT_NO_FATAL_FAILURE(MakeCgroup(new_dir));
  Pod readded = full;
  readded.statuses[0].container_id = "containerd://" + new_id;
  source_->SetPods({readded});

  ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value(); })) << "app is tracked again";
  EXPECT_TRUE(WaitFor([&] { return SnapshotApp()->exclusive; }))
      << "app asks for a whole CPU and one is free";
  EXPECT_TRUE(WaitFor([&] { return ReadFile(new_dir + "/cpuset.cpus") == "1"; }))
      << "app has " << ReadFile(new_dir + "/cpuset.cpus");
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; }));
}

TEST_F(DaemonLoopTest, ContainerAddedWhileDownIsDecided) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  const std::string logger_id(64, 'e');
  const std::string logger_dir = absl::StrCat(root_, "/kubepods/pod", kUid, "/", logger_id);
  // The manifest gained a container while numapind was down: the checkpoint has only "app".
  Pod pod = PodWithLogger(logger_dir, logger_id);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));

  // CPU 0 is the shared pool's last CPU, so the new container runs there, with the reason.
  EXPECT_TRUE(WaitFor([&] { return ReadFile(logger_dir + "/cpuset.cpus") == "0"; }));
  std::optional<ContainerState> state = SnapshotLogger();
  ASSERT_TRUE(state.has_value()) << "the new container is tracked";
  EXPECT_FALSE(state->exclusive);
  EXPECT_NE(state->error.find("shared pool"), std::string::npos)
      << "the allocator decided it; error \"" << state->error << "\"";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1") << "app keeps its CPU";
}

TEST_F(DaemonLoopTest, RestoreOfResizedContainerKeepsRecord) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  const std::string resized =
      "Restored assignment has another CPU count than the container's request; it keeps the "
      "recorded CPUs";
  // The request went from 1 to 2 CPUs while numapind was down.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(2000, "1")}));

  ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value(); }));
  EXPECT_TRUE(SnapshotApp()->exclusive);
  EXPECT_EQ(SnapshotApp()->cpus.ToString(), "1") << "the recorded CPU";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1") << "the container was not moved";
  EXPECT_EQ(CheckpointCpus(), "1");
  ASSERT_EQ(LogCount(resized), 1);
  const std::string line = LogLine(resized);
  EXPECT_NE(line.find(" pod=default/web "), std::string::npos) << line;
  EXPECT_NE(line.find(" container=app "), std::string::npos) << line;
  EXPECT_NE(line.find(" record_cpu_count=1 "), std::string::npos) << line;
  EXPECT_NE(line.find(" request_cpu_count=2 "), std::string::npos) << line;
}

// The record keeps CPU 1 for "app", whose request is no longer a whole number of CPUs, so a pod
// that requests a CPU after the restart must not get CPU 1.
TEST_F(DaemonLoopTest, RestoreOfFractionalRequestKeepsCpuFromOthers) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}, kId));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  std::string other_dir;
  const Pod other = OtherPod(&other_dir);
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(1500, "1"), other}));

  ASSERT_TRUE(WaitFor([&] { return ReadFile(other_dir + "/cpuset.cpus") == "0"; }))
      << "other has " << ReadFile(other_dir + "/cpuset.cpus");
  ASSERT_TRUE(SnapshotApp().has_value());
  EXPECT_TRUE(SnapshotApp()->exclusive);
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1");
  const std::string line = LogLine(
      "Restored assignment has another CPU count than the container's request; it keeps the "
      "recorded CPUs");
  EXPECT_NE(line.find(" request_cpu_count=0 "), std::string::npos) << line;
}

// --reserved-cpus now names the recorded CPU, so neither the record nor the live cpuset can be
// kept. The container gets a fresh assignment outside the reserved CPUs, which stay shared.
TEST_F(DaemonLoopTest, RestoreOfNowReservedCpuReassigns) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}, kId));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  reserved_cpus_ = CpuSet{1};
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod()}));

  EXPECT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "0"; }))
      << "app has " << ReadFile(container_dir_ + "/cpuset.cpus");
  ASSERT_TRUE(SnapshotApp().has_value());
  EXPECT_TRUE(SnapshotApp()->exclusive);
  EXPECT_EQ(box_.Get()->cpus[1].owner, CpuOwner::kReserved);
  EXPECT_EQ(CheckpointCpus(), "0");
  EXPECT_EQ(LogCount("Checkpoint record is invalid and the live cpuset cannot replace it"), 1);
}

TEST_F(DaemonLoopTest, RestoreOfUnchangedRequestLogsNoResize) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  ASSERT_NO_FATAL_FAILURE(StartDaemon({GuaranteedPod(1000, "1")}));

  ASSERT_TRUE(WaitFor([&] { return LogCount("Restored assignment") == 1; }));
  EXPECT_EQ(LogCount("Restored assignment has another CPU count than the container's request; "
                     "it keeps the recorded CPUs"),
            0);
}

TEST_F(DaemonLoopTest, PodLeftOutOfFirstListKeepsCpu) {
  ASSERT_NO_FATAL_FAILURE(SaveCheckpoint(CpuSet{1}));
  WriteFile(container_dir_ + "/cpuset.cpus", "1");
  std::string other_dir;
  const Pod other = OtherPod(&other_dir);
  // A kubelet that has just started lists the new pod but not yet the checkpointed one.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({other}));

  EXPECT_TRUE(WaitFor([&] { return ReadFile(other_dir + "/cpuset.cpus") == "0"; }))
      << "CPU 1 stays with the unlisted pod; other has " << ReadFile(other_dir + "/cpuset.cpus");
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1");
  source_->SetPods({GuaranteedPod(), other});
  EXPECT_TRUE(WaitFor([&] { return SnapshotApp().has_value() && SnapshotApp()->exclusive; }));
  ASSERT_TRUE(SnapshotApp().has_value());
  EXPECT_EQ(SnapshotApp()->cpus.ToString(), "1") << "the restored assignment, once listed";
}

TEST_F(DaemonLoopTest, LateInvalidContainerIdReleasesCpus) {
  Pod pod = GuaranteedPod();
  pod.statuses[0].container_id = "";  // Pending: allocated before the runtime reports an id.
  ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));
  ASSERT_TRUE(WaitFor([&] { return CheckpointCpus() == "1"; }));

  pod.statuses[0].container_id = "containerd://../../escape";
  source_->SetPods({pod});

  EXPECT_TRUE(WaitFor([&] { return box_.Get()->cpus[1].owner == CpuOwner::kShared; }))
      << "CPU 1 is back in the shared pool";
  std::optional<ContainerState> app = SnapshotApp();
  ASSERT_TRUE(app.has_value());
  EXPECT_FALSE(app->exclusive);
  EXPECT_NE(app->error.find("is invalid"), std::string::npos) << app->error;
  EXPECT_TRUE(WaitFor([&] { return CheckpointCpus().empty(); })) << "the checkpoint dropped it";
}

TEST_F(DaemonLoopTest, DumpToMissingDirectoryIsLogged) {
  adjust_options_ = [](DaemonOptions& options) {
    options.dump_state_file = "/nonexistent-numapin-dir/dump.json";
  };
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  source_->SetPods({GuaranteedPod()});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));

  EXPECT_TRUE(WaitFor([&] { return LogCount("Writing the state dump failed") > 0; }));
  EXPECT_EQ(LogCount("Writing the state dump failed"), 1) << "repeats are rate-limited";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), "1") << "pinning goes on without a dump";
}

TEST_F(DaemonLoopTest, DuplicateUidIsLoggedAndIgnored) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  Pod copy = GuaranteedPod();
  copy.name = "web-copy";
  source_->SetPods({GuaranteedPod(), copy});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(container_dir_ + "/cpuset.cpus") == "1"; }));

  EXPECT_EQ(LogCount("Ignored a second pod with the same uid"), 1);
  std::optional<ContainerState> app = SnapshotApp();
  ASSERT_TRUE(app.has_value());
  EXPECT_EQ(app->pod, "web") << "the first pod of the list is kept";
}

// Observe mode on the host's topology, with the kubelet's cpu_manager_state giving the test
// container the highest online CPU and the cgroup already on it, as the static policy leaves it.
class ObserveModeTest : public DaemonLoopTest {
 protected:
  void SetUp() override {
    DaemonLoopTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    absl::StatusOr<CpuSet> online = CpuSet::Parse(ReadFile("/sys/devices/system/cpu/online"));
    ASSERT_TRUE(online.ok()) << online.status();
    if (online->Size() < 2) GTEST_SKIP() << "needs two online CPUs, one of them shared";
    exclusive_cpu_ = CpuSet{online->ToVector().back()};
    const std::string state_file = state_dir_ + "/cpu_manager_state";
    WriteFile(state_file,
              absl::StrCat(R"({"policyName":"static","defaultCpuSet":")",
                           online->Difference(exclusive_cpu_).ToString(), R"(","entries":{")", kUid,
                           R"(":{"app":")", exclusive_cpu_.ToString(), R"("}},"checksum":1})"));
    WriteFile(container_dir_ + "/cpuset.cpus", exclusive_cpu_.ToString());
    readback_interval_ = absl::Milliseconds(50);
    adjust_options_ = [this, state_file](DaemonOptions& options) {
      options.mode = DaemonMode::kObserve;
      options.repair = true;
      options.topology = "host";
      options.cpu_manager_state = state_file;
      options.set_mems = set_mems_;
    };
  }

  // Starts observe mode with the test pod and waits until the container is known as exclusive
  // and several read-backs have run.
  void StartObserving() {
    Pod pod = GuaranteedPod();
    pod.annotations.clear();
    ASSERT_NO_FATAL_FAILURE(StartDaemon({pod}));
    ASSERT_TRUE(WaitFor([&] { return SnapshotApp().has_value() && SnapshotApp()->exclusive; }));
    usleep(500000);
  }

  uint64_t CpusetDrift() const {
    auto it = box_.Get()->drift_detected.find("cpuset");
    return it == box_.Get()->drift_detected.end() ? 0 : it->second;
  }

  CpuSet exclusive_cpu_;
  Tristate set_mems_ = Tristate::kAuto;
};

TEST_F(ObserveModeTest, MatchingCpusetIsNoDrift) {
  ASSERT_NO_FATAL_FAILURE(StartObserving());
  EXPECT_EQ(CpusetDrift(), 0u) << "cpu_manager_state names no mems to compare";
  EXPECT_EQ(LogCount("Drift detected"), 0);
  EXPECT_EQ(LogCount("Re-pinned container"), 0);
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.cpus"), exclusive_cpu_.ToString());
}

TEST_F(ObserveModeTest, SetMemsOnExpectsNodesOfCpus) {
  set_mems_ = Tristate::kOn;
  ASSERT_NO_FATAL_FAILURE(StartObserving());
  std::optional<ContainerState> app = SnapshotApp();
  ASSERT_TRUE(app.has_value());
  EXPECT_FALSE(app->mems.Empty()) << "never an empty cpuset.mems to expect";
  EXPECT_EQ(LogCount("Pin conflict: another writer keeps rewriting the cpuset, backing off"), 0)
      << "a repair that matches what it wrote settles";
  EXPECT_EQ(ReadFile(container_dir_ + "/cpuset.mems"), app->mems.ToString());
}

}  // namespace
}  // namespace numapin
