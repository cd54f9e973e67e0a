// The fixture of the daemon loop tests: numapind's Daemon with a fake pod source and a fake
// scheduler monitor, on real v1 cpuset cgroups under /sys/fs/cgroup/cpuset/numapin-test-<pid>/
// (root only). Each daemon_*_test.cc file contains the cases of one topic.
#pragma once

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

namespace numapin::daemon_test {

inline constexpr char kUid[] = "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";
inline constexpr char kId[] = "4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d4f2a9c0d";
inline constexpr char kCpusetMount[] = "/sys/fs/cgroup/cpuset";

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

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

inline void WriteFile(const std::string& path, const std::string& value) {
  std::ofstream(path) << value;
}

// The status of a running container "app" with containerd id `id`.
inline ContainerStatus RunningApp(const std::string& id) {
  ContainerStatus status;
  status.name = "app";
  status.container_id = absl::StrCat("containerd://", id);
  status.running = true;
  return status;
}

inline Pod GuaranteedPod(int64_t cpu_millis = 1000, const std::string& preferred_node = "1") {
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
  pod.statuses.push_back(RunningApp(kId));
  return pod;
}

inline constexpr char kBurstableUid[] = "5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f";
inline constexpr char kBurstableId[] =
    "9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d9a8b7c6d";

inline Pod BurstablePod() {
  Pod pod;
  pod.uid = kBurstableUid;
  pod.namespace_name = "default";
  pod.name = "batch";
  pod.phase = "Running";
  ContainerSpec app;
  app.name = "app";
  app.resources.cpu_request_millis = 100;
  pod.containers.push_back(app);
  pod.statuses.push_back(RunningApp(kBurstableId));
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

}  // namespace numapin::daemon_test
