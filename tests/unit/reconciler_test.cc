// Reconciler: first pin, shared-pool update, drift kinds, repair, conflict back-off and
// observe-only runs, over an in-memory cgroup v1 tree.
#include "daemon/core/reconciler.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_cgroup_files.h"

namespace numapin {
namespace {

constexpr char kPod[] = "kubepods/pod0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";
constexpr char kUid[] = "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";

class ReconcilerTest : public testing::Test {
 protected:
  void SetUp() override {
    files_.AddDir("kubepods", Cpuset("0-3"));
    files_.AddDir(kPod, Cpuset("0-3"));
    files_.AddDir(std::string(kPod) + "/aaa", Cpuset("0-3"));
    files_.AddDir(std::string(kPod) + "/bbb", Cpuset("0-3"));
    config_.layout.version = CgroupVersion::kV1;
    config_.layout.driver = CgroupDriver::kCgroupfs;
    config_.layout.kubepods = "kubepods";
    config_.assignable_cpus = CpuSet::Range(0, 3);
    config_.all_mems = CpuSet{0};
  }

  static std::map<std::string, std::string> Cpuset(const std::string& cpus) {
    return {{"cpuset.cpus", cpus}, {"cpuset.mems", "0"}};
  }

  ManagedContainer Container(const std::string& name, const std::string& id, CpuSet cpus,
                             bool exclusive) {
    ManagedContainer container;
    container.pod_uid = kUid;
    container.namespace_name = "default";
    container.pod_name = "web";
    container.name = name;
    container.qos = QosClass::kGuaranteed;
    container.runtime = "containerd";
    container.container_id = id;
    container.exclusive = exclusive;
    container.cpus = cpus;
    return container;
  }

  std::string Cpus(const std::string& id) { return files_.Get(std::string(kPod) + "/" + id,
                                                              "cpuset.cpus"); }

  FakeCgroupFiles files_;
  ReconcilerConfig config_;
  EnforcementStats stats_;
};

TEST_F(ReconcilerTest, LocateFindsContainerCgroupById) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  EXPECT_TRUE(reconciler.Locate(app));
  EXPECT_EQ(app.cgroup_dir, std::string(kPod) + "/aaa");
  EXPECT_FALSE(reconciler.Locate(app)) << "same id: nothing new";
  app.container_id = "ccc";
  EXPECT_FALSE(reconciler.Locate(app)) << "restarted container's cgroup does not exist yet";
}

TEST_F(ReconcilerTest, FirstPinWritesExclusiveAndSharedCpus) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2, 3}, true);
  ManagedContainer side = Container("side", "bbb", CpuSet{0, 1}, false);
  reconciler.Locate(app);
  reconciler.Locate(side);

  reconciler.Run({&app, &side}, CpuSet{2, 3}, Trigger::kChange);

  EXPECT_EQ(Cpus("aaa"), "2-3");
  EXPECT_EQ(Cpus("bbb"), "0-1");
  EXPECT_EQ(stats_.repins["new"], 2u);
  EXPECT_TRUE(stats_.drift_detected.empty()) << "a first pin is not drift";
}

TEST_F(ReconcilerTest, RestoredAssignmentCountsAsRestore) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{3}, true);
  app.restored = true;
  reconciler.Locate(app);
  reconciler.Run({&app}, CpuSet{3}, Trigger::kChange);
  EXPECT_EQ(stats_.repins["restore"], 1u);
  EXPECT_EQ(stats_.repins.count("new"), 0u);
}

TEST_F(ReconcilerTest, SharedPoolGrowthIsPoolChange) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer side = Container("side", "bbb", CpuSet{0, 1}, false);
  reconciler.Locate(side);
  reconciler.Run({&side}, CpuSet{2, 3}, Trigger::kChange);

  side.cpus = CpuSet::Range(0, 3);
  reconciler.Run({&side}, CpuSet(), Trigger::kChange);

  EXPECT_EQ(Cpus("bbb"), "0-3");
  EXPECT_EQ(stats_.repins["pool_change"], 1u);
  EXPECT_TRUE(stats_.drift_detected.empty());
}

TEST_F(ReconcilerTest, RewrittenCpusetIsCpusetDriftAndRepaired) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);
  reconciler.Run({&app}, CpuSet{2}, Trigger::kChange);

  ASSERT_TRUE(files_.Write(std::string(kPod) + "/aaa", "cpuset.cpus", "1").ok());
  reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);

  EXPECT_EQ(Cpus("aaa"), "2");
  EXPECT_EQ(stats_.drift_detected["cpuset"], 1u);
  EXPECT_EQ(stats_.repins["cpuset"], 1u);
  EXPECT_EQ(stats_.repair_latency.count, 1u);
  ASSERT_EQ(stats_.recent_violations.size(), 1u);
  EXPECT_EQ(stats_.recent_violations[0].kind, "cpuset");
}

TEST_F(ReconcilerTest, SharedContainerOverExclusiveCpuIsSharedDrift) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer side = Container("side", "bbb", CpuSet{0, 1}, false);
  reconciler.Locate(side);
  reconciler.Run({&side}, CpuSet{2, 3}, Trigger::kChange);

  ASSERT_TRUE(files_.Write(std::string(kPod) + "/bbb", "cpuset.cpus", "0-2").ok());
  reconciler.Run({&side}, CpuSet{2, 3}, Trigger::kReadback);

  EXPECT_EQ(Cpus("bbb"), "0-1");
  EXPECT_EQ(stats_.drift_detected["shared"], 1u);
  EXPECT_EQ(stats_.repins["shared"], 1u);
}

TEST_F(ReconcilerTest, MonitorTriggeredRepairIsOutsideReason) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);
  reconciler.Run({&app}, CpuSet{2}, Trigger::kChange);
  ASSERT_TRUE(files_.Write(std::string(kPod) + "/aaa", "cpuset.cpus", "0").ok());

  reconciler.Run({&app}, CpuSet{2}, Trigger::kOutside, absl::Now() - absl::Milliseconds(5));

  EXPECT_EQ(Cpus("aaa"), "2");
  EXPECT_EQ(stats_.repins["outside"], 1u);
  EXPECT_GE(stats_.repair_latency.sum, 0.005);
}

TEST_F(ReconcilerTest, SecondWriterLoopEndsInConflictBackoff) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);
  reconciler.Run({&app}, CpuSet{2}, Trigger::kChange);

  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(files_.Write(std::string(kPod) + "/aaa", "cpuset.cpus", "0-3").ok());
    reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);
  }

  EXPECT_EQ(stats_.repins["cpuset"], 5u) << "re-pins stop at the limit";
  EXPECT_EQ(stats_.pin_conflicts, 1u);
  EXPECT_TRUE(app.limiter.conflict());
  EXPECT_EQ(Cpus("aaa"), "0-3") << "backed off: the other writer's value stays";
  EXPECT_EQ(stats_.drift_detected["cpuset"], 6u) << "each drift after a repair counts; the lasting one during back-off once";
}

TEST_F(ReconcilerTest, ObserveWithoutRepairWritesNothing) {
  config_.writes = false;
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);

  reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);
  reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);

  EXPECT_TRUE(files_.writes().empty());
  EXPECT_EQ(stats_.drift_detected["cpuset"], 1u);
  EXPECT_TRUE(stats_.repins.empty());
}

TEST_F(ReconcilerTest, ObserveRepairTreatsFirstMismatchAsDrift) {
  config_.observe = true;
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);

  reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);

  EXPECT_EQ(Cpus("aaa"), "2") << "--repair writes the kubelet's value";
  EXPECT_EQ(stats_.drift_detected["cpuset"], 1u);
  EXPECT_EQ(stats_.repins["cpuset"], 1u);
  EXPECT_EQ(stats_.repins.count("new"), 0u);
}

TEST_F(ReconcilerTest, RemovedCgroupIsForgotten) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "zzz", CpuSet{2}, true);
  app.cgroup_dir = std::string(kPod) + "/zzz";
  app.located_id = "zzz";
  reconciler.Run({&app}, CpuSet{2}, Trigger::kReadback);
  EXPECT_EQ(app.cgroup_dir, "");
  EXPECT_EQ(app.located_id, "");
}

TEST_F(ReconcilerTest, PinLatencyObservedFromCgroupSeen) {
  Reconciler reconciler(config_, &files_, nullptr, &stats_);
  ManagedContainer app = Container("app", "aaa", CpuSet{2}, true);
  reconciler.Locate(app);
  app.cgroup_seen = absl::Now();
  reconciler.Run({&app}, CpuSet{2}, Trigger::kChange);
  EXPECT_EQ(stats_.pin_latency.count, 1u);
  EXPECT_EQ(app.cgroup_seen, absl::InfinitePast());
}

}  // namespace
}  // namespace numapin
