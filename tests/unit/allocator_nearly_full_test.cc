// NodeAllocator near a full node (nearly_full_percent): a container goes to the NUMA node where it
// takes the free half of a split core or a spared SMT sibling rather than to one where it splits
// a fresh core, within the sharing budget, so that fresh cores stay whole for the large requests
// a full node would otherwise reject.
#include <gtest/gtest.h>

#include "policy/allocator.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::AddOne;
using testing::BuildTopology;
using testing::MustCreate;
using testing::OneContainer;

// Two nodes of 4 cores of 2 CPUs: node 0 is CPUs 0-7, node 1 is CPUs 8-15. 16 CPUs in the pool.
Topology TwoNodes() { return BuildTopology(2, 4, 2); }

NodeAllocator WithOptions(const Topology& topology, int nearly_full_percent, int budget_percent) {
  AllocatorOptions options;
  options.nearly_full_percent = nearly_full_percent;
  options.sharing_budget_percent = budget_percent;
  return MustCreate(topology, options);
}

// Node 0: "four" 0-3 and "single" 4, which leaves the half core 5 next to a 1-CPU container and
// the fresh core 6-7. Node 1: "other" 8-11 and the fresh cores 12-13 and 14-15. Requests of 2 CPUs
// or more have 3 + 4 = 7 of the 16 CPUs, 43%.
void FillHalfCore(NodeAllocator& allocator) {
  AddOne(allocator, OneContainer("four", 4, 0));
  AddOne(allocator, OneContainer("single", 1, 0));
  AddOne(allocator, OneContainer("other", 4, 1));
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0-4,8-11");
}

TEST(AllocatorNearlyFull, OddRequestTakesHalfCoreNotFreshCore) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = WithOptions(topology, 50, 100);
  FillHalfCore(allocator);

  // Node 0 has room for 3 CPUs with the half core 5 (the container shares it with "single"),
  // node 1 only by splitting a fresh core. Near a full pool, node 0's half is what gets used.
  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));

  ASSERT_TRUE(odd.exclusive) << odd.error;
  EXPECT_EQ(odd.assignment.cpus.ToString(), "5-7");
}

TEST(AllocatorNearlyFull, RoomyPoolSplitsFreshCore) {
  Topology topology = TwoNodes();
  // 7 of 16 CPUs is over 40%, so the pool is not nearly full and no container starts to share.
  NodeAllocator allocator = WithOptions(topology, 40, 100);
  FillHalfCore(allocator);

  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));

  ASSERT_TRUE(odd.exclusive) << odd.error;
  EXPECT_EQ(odd.assignment.cpus.ToString(), "12-14");
}

// Node 0: "seven" 0-6, whose sibling 7 is spared. Node 1: "six" 8-13 and the fresh core 14-15.
// Requests of 2 CPUs or more have 2 of the 16 CPUs, 12.5%: nearly full at the default 16%.
void FillSparedSibling(NodeAllocator& allocator) {
  AddOne(allocator, OneContainer("seven", 7, 0));
  AddOne(allocator, OneContainer("six", 6, 1));
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0-6,8-13");
}

TEST(AllocatorNearlyFull, OneCpuTakesSparedSibling) {
  Topology topology = TwoNodes();
  // Two containers of 2 CPUs or more are live, and 50% of 2 lets one of them share a core.
  NodeAllocator allocator = WithOptions(topology, AllocatorOptions().nearly_full_percent, 50);
  FillSparedSibling(allocator);

  // CPU 7 makes "seven" share its core. CPU 14 would split the last fresh core, which a 2-CPU
  // request needs.
  ContainerDecision one = AddOne(allocator, OneContainer("one", 1));

  ASSERT_TRUE(one.exclusive) << one.error;
  EXPECT_EQ(one.assignment.cpus.ToString(), "7");
  EXPECT_EQ(allocator.SharedPool().ToString(), "14-15");
}

TEST(AllocatorNearlyFull, OverBudgetSplitsFreshCore) {
  Topology topology = TwoNodes();
  // 30% of 2 live containers, rounded down, lets none of them share a core.
  NodeAllocator allocator = WithOptions(topology, AllocatorOptions().nearly_full_percent, 30);
  FillSparedSibling(allocator);

  ContainerDecision one = AddOne(allocator, OneContainer("one", 1));

  ASSERT_TRUE(one.exclusive) << one.error;
  EXPECT_EQ(one.assignment.cpus.ToString(), "14");
}

TEST(AllocatorNearlyFull, OffSplitsFreshCore) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = WithOptions(topology, 0, 100);
  FillSparedSibling(allocator);

  ContainerDecision one = AddOne(allocator, OneContainer("one", 1));

  ASSERT_TRUE(one.exclusive) << one.error;
  EXPECT_EQ(one.assignment.cpus.ToString(), "14");
}

TEST(AllocatorNearlyFull, PreferredNodeStillWins) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = WithOptions(topology, AllocatorOptions().nearly_full_percent, 100);
  FillSparedSibling(allocator);

  ContainerDecision one = AddOne(allocator, OneContainer("one", 1, /*preferred_node=*/1));

  ASSERT_TRUE(one.exclusive) << one.error;
  EXPECT_EQ(one.assignment.cpus.ToString(), "14");
}

TEST(AllocatorNearlyFull, CreateRejectsAPercentageOver100) {
  Topology topology = BuildTopology(1, 2, 2);
  AllocatorOptions options;
  options.nearly_full_percent = 101;

  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology, options);

  EXPECT_FALSE(allocator.ok());
  EXPECT_NE(allocator.status().message().find("invalid nearly-full mark 101%"),
            absl::string_view::npos)
      << allocator.status();
}

}  // namespace
}  // namespace numapin
