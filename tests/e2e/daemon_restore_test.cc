// Restart recovery of the daemon loop on real v1 cpuset cgroups. Checkpoint records that are
// wrong fall back to the live cpuset or hold it, and a rebuild adopts no shared-pool cpuset. A
// restored record whose container's request changed while numapind was down is kept with a
// warning, also from other pods. A record on a now reserved CPU is reassigned. A checkpointed
// pod that the first pod list leaves out keeps its CPU.
#include "tests/e2e/daemon_loop_fixture.h"

namespace numapin::daemon_test {
namespace {

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

}  // namespace
}  // namespace numapin::daemon_test
