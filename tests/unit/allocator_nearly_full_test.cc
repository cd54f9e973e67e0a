// NodeAllocator near a full node (nearly_full_percent). A container goes to the NUMA node where it
// takes the free half of a split core or a spared SMT sibling rather than to one where it splits
// a fresh core, within the sharing budget. Fresh cores stay whole for the large requests that a
// full node would otherwise reject.
#include <gtest/gtest.h>

#include "policy/allocator.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::AddOne;
using testing::BuildTopology;
using testing::LoadFixture;
using testing::MustCreate;
using testing::MustLoadTopology;
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
// the fresh core 6-7. Node 1: "other" 8-11 and the fresh cores 12-13 and 14-15. A container of 2
// CPUs or more can take 2 + 4 = 6 of the 16 CPUs without sharing a core, 37.5%.
void FillHalfCore(NodeAllocator& allocator) {
  AddOne(allocator, OneContainer("four", 4, 0));
  AddOne(allocator, OneContainer("single", 1, 0));
  AddOne(allocator, OneContainer("other", 4, 1));
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0-4,8-11");
}

TEST(AllocatorNearlyFull, OddRequestTakesHalfCoreNotFreshCore) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = WithOptions(topology, 40, 100);
  FillHalfCore(allocator);

  // Node 0 has room for 3 CPUs with the half core 5 (the container shares it with "single"),
  // node 1 only by splitting a fresh core. Near a full pool, node 0's half is what gets used.
  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));

  ASSERT_TRUE(odd.exclusive) << odd.error;
  EXPECT_EQ(odd.assignment.cpus.ToString(), "5-7");
}

TEST(AllocatorNearlyFull, RoomyPoolSplitsFreshCore) {
  Topology topology = TwoNodes();
  // 6 of 16 CPUs is over 30%, so the pool is not nearly full and no container starts to share.
  NodeAllocator allocator = WithOptions(topology, 30, 100);
  FillHalfCore(allocator);

  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));

  ASSERT_TRUE(odd.exclusive) << odd.error;
  EXPECT_EQ(odd.assignment.cpus.ToString(), "12-14");
}

// Node 0: "seven" 0-6, whose sibling 7 is spared. Node 1: "six" 8-13 and the fresh core 14-15.
// A container of 2 CPUs or more can take 2 of the 16 CPUs without sharing a core, 12.5%: nearly
// full at the default 16%.
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

// Four nodes of 4 cores of 2 CPUs (8 CPUs each). Node 0 keeps four 1-CPU containers, one on each
// core, node 1 has the fresh cores 12-13 and 14-15 left, and nodes 2 and 3 are full. The free
// halves of node 0 serve a container of 2 CPUs or more only at the cost of sharing a core, so
// they do not make the pool roomy: 4 of 32 CPUs are free without sharing, 12.5%.
TEST(AllocatorNearlyFull, HalfCoresDoNotCountAsRoom) {
  Topology topology = BuildTopology(4, 4, 2);
  NodeAllocator allocator = WithOptions(topology, AllocatorOptions().nearly_full_percent, 100);
  for (int i = 0; i < 8; ++i) AddOne(allocator, OneContainer("single" + std::to_string(i), 1, 0));
  for (int i = 1; i < 8; i += 2) allocator.RemovePod("uid-single" + std::to_string(i));
  for (int node = 1; node < 4; ++node) {
    for (int i = 0; i < (node == 1 ? 2 : 4); ++i) {
      AddOne(allocator, OneContainer("two-" + std::to_string(node) + std::to_string(i), 2, node));
    }
  }
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0,2,4,6,8-11,16-31");

  // The 3-CPU container takes three halves of node 0 and shares a core with 1-CPU containers,
  // which leaves node 1 whole cores for the 4-CPU container.
  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));
  ContainerDecision four = AddOne(allocator, OneContainer("four", 4));

  ASSERT_TRUE(odd.exclusive) << odd.error;
  EXPECT_EQ(odd.assignment.cpus.ToString(), "1,3,5");
  ASSERT_TRUE(four.exclusive) << four.error;
  EXPECT_EQ(four.assignment.cpus.ToString(), "12-15");
}

// One node of two L3 caches, 0-7 and 8-15, with CPUs 1 and 9 reserved. Once "x" and "y" are gone,
// the node's CPUs 0 and 8 are free halves next to reserved CPUs, while CPU 5 is the spared sibling
// of "a" (3 CPUs). The node has a cheap pair of CPUs only across both caches, and the request
// stays within one, so there the estimate for the node does not hold.
TEST(AllocatorNearlyFull, BudgetHoldsWithinOneL3Cache) {
  Topology topology = MustLoadTopology("synthetic:package:1 numa:1 l3:2 core:4 pu:2");
  for (int budget_percent : {0, 30}) {
    AllocatorOptions options;
    options.reserved_cpus = CpuSet{1, 9};
    options.sharing_budget_percent = budget_percent;
    NodeAllocator allocator = MustCreate(topology, options);
    for (const char* name : {"x", "y"}) AddOne(allocator, OneContainer(name, 1));
    for (const char* name : {"a", "b"}) AddOne(allocator, OneContainer(name, 3));
    for (const char* name : {"c", "d"}) AddOne(allocator, OneContainer(name, 2));
    allocator.RemovePod("uid-x");
    allocator.RemovePod("uid-y");

    // 30% of the 5 containers of 2 CPUs or more lets one of them share, but taking CPU 5 would
    // make both "e" and "a" share.
    ContainerDecision two = AddOne(allocator, OneContainer("e", 2));

    ASSERT_TRUE(two.exclusive) << two.error;
    EXPECT_EQ(two.assignment.cpus.ToString(), "0,8") << "budget " << budget_percent << "%";
  }
}

// Four packages of one L3 cache each, 2 cores of 2 CPUs (16em64t-4s2c2t.xml), CPUs 3 and 5
// reserved. Once the 1-CPU containers s1, s2, s4 and s6 are gone, CPUs 9 and 13 are free in L3 1,
// next to s3 and to reserved 5. CPUs 11 and 15 are free in L3 3, next to reserved 3 and to s5. Only CPUs 11 and 13 would make no container share a core, but they lie in two packages:
// the request stays in one L3 cache, as outside the nearly-full rule.
TEST(AllocatorNearlyFull, StaysWithinOneL3Cache) {
  Topology topology = LoadFixture("16em64t-4s2c2t.xml");
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{3, 5};
  NodeAllocator allocator = MustCreate(topology, options);
  for (int i = 1; i <= 6; ++i) AddOne(allocator, OneContainer("s" + std::to_string(i), 1));
  for (const char* name : {"a", "b"}) AddOne(allocator, OneContainer(name, 4));
  for (int i : {1, 2, 4, 6}) allocator.RemovePod("uid-s" + std::to_string(i));
  ASSERT_EQ(allocator.SharedPool().ToString(), "3,5,9,11,13,15");

  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));

  ASSERT_TRUE(two.exclusive) << two.error;
  EXPECT_EQ(two.assignment.cpus.ToString(), "9,13");
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
