// The daemon loop on real v1 cpuset cgroups. It checks the cgroups and CPU owners the monitor
// receives, the repair of an outside-run event and untracking when the pod goes away. It also
// checks a container with an invalid id and a second daemon on one --state-dir, also after the
// directory was deleted under the first. A vanished container cgroup or kubepods tree, a state
// dump that cannot be written and a second pod with a taken uid are logged. In observe mode on
// the host's topology, a cpuset that matches cpu_manager_state is no drift.
#include "tests/e2e/daemon_loop_fixture.h"

namespace numapin::daemon_test {
namespace {

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

TEST_F(DaemonLoopTest, DeletedStateDirIsLockedAgain) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon());
  std::filesystem::remove_all(state_dir_);

  // The checkpoint written for the new pod recreates the directory and the lock file.
  source_->SetPods({GuaranteedPod()});
  ASSERT_TRUE(WaitFor(
      [&] { return LogCount("The state directory's lock file was gone; locked a new one") == 1; }));

  SnapshotBox other_box;
  absl::StatusOr<std::unique_ptr<Daemon>> second = Daemon::Create(
      Options(), std::make_unique<FakePodSource>(), &other_box, std::make_unique<FakeMonitor>());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another numapind"), std::string::npos)
      << second.status();
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
}  // namespace numapin::daemon_test
