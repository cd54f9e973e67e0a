// Manifest edits seen by the daemon loop on real v1 cpuset cgroups. An edit moves no running
// container. A container that newly appears is pinned, also when it appeared while numapind was
// down. A container or sidecar removed from the manifest keeps its CPU until its cgroup is gone,
// also across a restart, and gets a CPU again when it comes back under its name.
#include "tests/e2e/daemon_loop_fixture.h"

namespace numapin::daemon_test {
namespace {

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

}  // namespace
}  // namespace numapin::daemon_test
