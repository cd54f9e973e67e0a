// Restart recovery decisions on an 8-CPU, two-node topology (node 0: CPUs 0-3, node 1: 4-7):
// wrong checkpoint records fall back to live cpusets or hold the live CPUs, and a rebuild
// without a checkpoint adopts no shared-pool cpuset.
#include "daemon/state/recovery.h"

#include <gtest/gtest.h>

#include "tests/unit/fixtures.h"

namespace numapin {
namespace {

using ::numapin::testing::MustLoadTopology;

constexpr char kTopology[] = "synthetic:numa:2 core:4 pu:1";

AssignmentRecord Record(const std::string& pod, const std::string& container, CpuSet cpus) {
  AssignmentRecord record;
  record.pod_uid = pod + "-uid";
  record.pod_key = "default/" + pod;
  record.container = container;
  record.assignment.cpus = cpus;
  return record;
}

LiveContainer Live(const std::string& pod, const std::string& container, int exclusive_cpus,
                   std::optional<CpuSet> cpus) {
  LiveContainer live;
  live.pod_uid = pod + "-uid";
  live.pod_key = "default/" + pod;
  live.container = container;
  live.exclusive_cpus = exclusive_cpus;
  live.cgroup_dir = "kubepods/pod" + pod + "/" + container;
  live.cpus = cpus;
  return live;
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { topology_ = MustLoadTopology(kTopology); }

  NodeAllocator MakeAllocator(CpuSet reserved = CpuSet()) {
    AllocatorOptions options;
    options.reserved_cpus = reserved;
    absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology_, options);
    EXPECT_TRUE(allocator.ok()) << allocator.status();
    return *std::move(allocator);
  }

  Topology topology_;
};

TEST_F(RecoveryTest, ValidRecordIsClaimed) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{4})}, {Live("web", "app", 1, CpuSet{4})}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kCheckpoint);
  EXPECT_TRUE(outcomes[0].record_error.ok()) << outcomes[0].record_error;
  ASSERT_NE(allocator.Find("web-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("web-uid", "app")->cpus.ToString(), "4");
}

TEST_F(RecoveryTest, CpuNotInTopologyFallsBackToLiveCpuset) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{9})}, {Live("web", "app", 1, CpuSet{2})}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup);
  EXPECT_EQ(outcomes[0].cpus.ToString(), "2");
  EXPECT_NE(outcomes[0].record_error.message().find("not in topology"), std::string::npos)
      << outcomes[0].record_error;
  ASSERT_NE(allocator.Find("web-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("web-uid", "app")->cpus.ToString(), "2");
  EXPECT_EQ(allocator.Find("web-uid", "app")->numa_nodes.ToString(), "0");
}

TEST_F(RecoveryTest, ReservedCpuFallsBackToLiveCpuset) {
  NodeAllocator allocator = MakeAllocator(CpuSet{0});
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{0})}, {Live("web", "app", 1, CpuSet{3})}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup);
  EXPECT_NE(outcomes[0].record_error.message().find("reserved"), std::string::npos)
      << outcomes[0].record_error;
  ASSERT_NE(allocator.Find("web-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("web-uid", "app")->cpus.ToString(), "3");
}

TEST_F(RecoveryTest, ReservedLiveCpusetIsNotHeld) {
  NodeAllocator allocator = MakeAllocator(CpuSet{0});
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{0})}, {Live("web", "app", 1, CpuSet{0})}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone);
  EXPECT_NE(outcomes[0].live_error.message().find("reserved"), std::string::npos)
      << outcomes[0].live_error;
  EXPECT_FALSE(allocator.HasPod("web-uid")) << "the pod gets a fresh assignment when added";
}

TEST_F(RecoveryTest, DuplicateCpuKeepsFirstAndAdoptsLive) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("db", "app", CpuSet{5}), Record("web", "app", CpuSet{5})},
      {Live("db", "app", 1, CpuSet{5}), Live("web", "app", 1, CpuSet{6})}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kCheckpoint);
  EXPECT_EQ(outcomes[1].source, RecoverySource::kLiveCgroup);
  EXPECT_NE(outcomes[1].record_error.message().find("already assigned to pod default/db"),
            std::string::npos)
      << outcomes[1].record_error;
  ASSERT_NE(allocator.Find("web-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("web-uid", "app")->cpus.ToString(), "6");
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "5-6");
}

TEST_F(RecoveryTest, RecordEmptyingPoolHoldsLiveCpus) {
  NodeAllocator allocator = MakeAllocator();
  // The pod requests 8 CPUs, which it never got: its cgroup contains 4-7.
  std::vector<RecoveryOutcome> outcomes =
      RecoverFromCheckpoint({Record("web", "app", CpuSet::Range(0, 7))},
                            {Live("web", "app", 8, CpuSet::Range(4, 7))}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kHeld);
  EXPECT_NE(outcomes[0].record_error.message().find("empty the shared pool"), std::string::npos)
      << outcomes[0].record_error;
  EXPECT_NE(outcomes[0].live_error.message().find("requests 8 CPUs"), std::string::npos)
      << outcomes[0].live_error;
  EXPECT_EQ(outcomes[0].cpus.ToString(), "4-7");
  EXPECT_EQ(allocator.SharedPool().ToString(), "0-3") << "no other pod can get CPUs 4-7";
}

TEST_F(RecoveryTest, HoldYieldsToValidRecord) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("db", "app", CpuSet{2}), Record("web", "app", CpuSet{9})},
      {Live("db", "app", 1, CpuSet{2}), Live("web", "app", 3, CpuSet{1, 2})}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kCheckpoint);
  EXPECT_EQ(outcomes[1].source, RecoverySource::kHeld);
  EXPECT_EQ(outcomes[1].cpus.ToString(), "1") << "CPU 2 stays with the valid record";
  ASSERT_NE(allocator.Find("db-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("db-uid", "app")->cpus.ToString(), "2");
}

TEST_F(RecoveryTest, SharedLiveCpusetHoldsNothing) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{9})},
      {Live("web", "app", 4, CpuSet::Range(0, 3)), Live("batch", "app", 0, CpuSet::Range(0, 3))},
      allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone);
  EXPECT_NE(outcomes[0].live_error.message().find("shared pool 0-3"), std::string::npos)
      << outcomes[0].live_error;
  EXPECT_FALSE(allocator.HasPod("web-uid"));
  EXPECT_EQ(allocator.SharedPool().ToString(), "0-7");
}

TEST_F(RecoveryTest, WholeNodeLiveCpusetHoldsNothing) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{9})}, {Live("web", "app", 2, CpuSet::Range(0, 7))}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone);
  EXPECT_EQ(allocator.SharedPool().ToString(), "0-7");
}

TEST_F(RecoveryTest, RebuildSkipsSharedPoolCpuset) {
  NodeAllocator allocator = MakeAllocator();
  // A Guaranteed container of 4 CPUs that never got exclusive CPUs runs in the shared pool 0-3,
  // next to a Burstable container there.
  std::vector<RecoveryOutcome> outcomes = RecoverFromCgroups(
      {Live("web", "app", 4, CpuSet::Range(0, 3)), Live("batch", "app", 0, CpuSet::Range(0, 3)),
       Live("db", "app", 2, CpuSet{6, 7})},
      allocator);

  ASSERT_EQ(outcomes.size(), 2u) << "one outcome per container that requests exclusive CPUs";
  EXPECT_EQ(outcomes[0].record.pod_key, "default/web");
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone);
  EXPECT_NE(outcomes[0].live_error.message().find("in the shared pool"), std::string::npos)
      << outcomes[0].live_error;
  EXPECT_EQ(outcomes[1].record.pod_key, "default/db");
  EXPECT_EQ(outcomes[1].source, RecoverySource::kLiveCgroup);
  EXPECT_EQ(allocator.Find("web-uid", "app"), nullptr);
  ASSERT_NE(allocator.Find("db-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("db-uid", "app")->cpus.ToString(), "6-7");
}

TEST_F(RecoveryTest, RebuildIgnoresWidenedSharedCpuset) {
  NodeAllocator allocator = MakeAllocator();
  // One shared-pool container drifted to every CPU, the other has the pool 0-5.
  std::vector<RecoveryOutcome> outcomes = RecoverFromCgroups(
      {Live("batch", "app", 0, CpuSet::Range(0, 7)), Live("cron", "app", 0, CpuSet::Range(0, 5)),
       Live("db", "app", 2, CpuSet{6, 7})},
      allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup) << outcomes[0].live_error;
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "6-7");
}

TEST_F(RecoveryTest, RebuildSkipsOverlappingCpusets) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCgroups(
      {Live("web", "app", 1, CpuSet{3}), Live("db", "app", 1, CpuSet{3})}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone) << "either could be the shared one";
  EXPECT_EQ(outcomes[1].source, RecoverySource::kNone);
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
}

TEST_F(RecoveryTest, RebuildSkipsSharedPodContainer) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes =
      RecoverFromCgroups({Live("batch", "app", 0, CpuSet{3})}, allocator);

  EXPECT_TRUE(outcomes.empty()) << "a container without an exclusive request is not a candidate";
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
}

TEST_F(RecoveryTest, RebuildLetsAppReuseInitCpus) {
  NodeAllocator allocator = MakeAllocator();
  LiveContainer init = Live("web", "setup", 1, CpuSet{4});
  init.init = true;
  std::vector<RecoveryOutcome> outcomes =
      RecoverFromCgroups({init, Live("web", "app", 1, CpuSet{4})}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup) << outcomes[0].live_error;
  EXPECT_EQ(outcomes[1].source, RecoverySource::kLiveCgroup) << outcomes[1].live_error;
}

TEST_F(RecoveryTest, RebuildIgnoresNeverPinnedCpuset) {
  NodeAllocator allocator = MakeAllocator();
  // A Guaranteed pod created while numapind was down still has the cpuset of every CPU, which its
  // container inherited. That cpuset must not cost the pinned container its CPUs.
  std::vector<RecoveryOutcome> outcomes = RecoverFromCgroups(
      {Live("web", "app", 1, CpuSet{5}), Live("new", "app", 1, CpuSet::Range(0, 7))}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup) << outcomes[0].live_error;
  EXPECT_EQ(outcomes[1].source, RecoverySource::kNone);
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "5");
}

TEST_F(RecoveryTest, InvalidRecordIgnoresNeverPinnedCpuset) {
  NodeAllocator allocator = MakeAllocator();
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("web", "app", CpuSet{9})},
      {Live("web", "app", 1, CpuSet{5}), Live("new", "app", 1, CpuSet::Range(0, 7))}, allocator);

  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kLiveCgroup) << outcomes[0].live_error;
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "5");
}

TEST_F(RecoveryTest, DuplicateCpuGoesToTheContainerRunningThere) {
  NodeAllocator allocator = MakeAllocator();
  // Both records name CPU 5; only web's container runs there, the first record's never did.
  std::vector<RecoveryOutcome> outcomes = RecoverFromCheckpoint(
      {Record("new", "app", CpuSet{5}), Record("web", "app", CpuSet{5})},
      {Live("new", "app", 1, CpuSet::Range(0, 7)), Live("web", "app", 1, CpuSet{5})}, allocator);

  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].source, RecoverySource::kNone);
  EXPECT_EQ(outcomes[1].source, RecoverySource::kCheckpoint) << outcomes[1].record_error;
  ASSERT_NE(allocator.Find("web-uid", "app"), nullptr);
  EXPECT_EQ(allocator.Find("web-uid", "app")->cpus.ToString(), "5");
  EXPECT_EQ(allocator.Find("new-uid", "app"), nullptr);
}

TEST(CheckLiveAssignment, WrongSizeNamesBothCounts) {
  LiveContainer container = Live("web", "app", 2, CpuSet{3});
  absl::Status status = CheckLiveAssignment(container, {container}, CpuSet::Range(0, 7), CpuSet());

  EXPECT_EQ(status.message(),
            "live cgroup kubepods/podweb/app of pod default/web container app with cpuset.cpus 3 "
            "is not adopted: the container requests 2 CPUs, but the cpuset has 1 CPU");
}

}  // namespace
}  // namespace numapin
