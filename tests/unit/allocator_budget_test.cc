// NodeAllocator's sharing budget: a container that sparing would reject may take spared SMT
// siblings while few enough live containers of 2 CPUs or more have shared a core.
#include <gtest/gtest.h>

#include "policy/allocator.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::AddOne;
using testing::BuildTopology;
using testing::MustCreate;
using testing::OneContainer;

// One node of 5 cores with core 8-9 reserved.
NodeAllocator FiveCores(const Topology& topology, int budget_percent) {
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{8, 9};
  options.sharing_budget_percent = budget_percent;
  return MustCreate(topology, options);
}

// "odd" takes 0-2, "filler" 4-5 and "pair" 6. That leaves CPU 3, the spared sibling of "odd" (3
// CPUs, unshared), and CPU 7, the sibling of "pair" (1 CPU). Two containers of 2 CPUs or more
// are live.
void FillFiveCores(NodeAllocator& allocator) {
  AddOne(allocator, OneContainer("odd", 3));
  AddOne(allocator, OneContainer("filler", 2));
  AddOne(allocator, OneContainer("pair", 1));
}

TEST(AllocatorSharingBudget, SparedSiblingTakenWithinBudget) {
  Topology topology = BuildTopology(1, 5, 2);
  NodeAllocator allocator = FiveCores(topology, 100);
  FillFiveCores(allocator);

  // CPUs 3 and 7 make "two" and "odd" share a core: 2 of 3 containers, within 100%.
  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));

  ASSERT_TRUE(two.exclusive) << two.error;
  EXPECT_EQ(two.assignment.cpus.ToString(), "3,7");
}

TEST(AllocatorSharingBudget, OverBudgetWaitsInSharedPool) {
  Topology topology = BuildTopology(1, 5, 2);
  NodeAllocator allocator = FiveCores(topology, 50);
  FillFiveCores(allocator);

  // 50% of 3 containers, rounded down, lets 1 share, and "two" would make 2 share.
  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));

  EXPECT_FALSE(two.exclusive);
  EXPECT_NE(two.error.message().find("lets 1 more of them share a core"), absl::string_view::npos)
      << two.error;
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-2,4-6");
}

TEST(AllocatorSharingBudget, DefaultKeepsAFewContainersStrict) {
  Topology topology = BuildTopology(1, 5, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{8, 9};
  NodeAllocator allocator = MustCreate(topology, options);
  FillFiveCores(allocator);

  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));

  EXPECT_FALSE(two.exclusive);
  EXPECT_NE(two.error.message().find("(30% of the containers of 2 or more CPUs) lets 0 more"),
            absl::string_view::npos)
      << two.error;
}

TEST(AllocatorSharingBudget, AllowanceFollowsLiveContainers) {
  Topology topology = BuildTopology(1, 8, 2);
  AllocatorOptions options;
  options.sharing_budget_percent = 50;
  NodeAllocator allocator = MustCreate(topology, options);
  AddOne(allocator, OneContainer("odd", 3));  // 0-2; CPU 3 is spared.
  for (int i = 0; i < 5; ++i) AddOne(allocator, OneContainer("filler-" + std::to_string(i), 2));
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0-2,4-13");

  // 6 containers of 2 CPUs or more are live: 50% of 7 lets 3 share. No node has 9 CPUs anyway.
  ContainerDecision before = AddOne(allocator, OneContainer("big", 9));
  EXPECT_FALSE(before.exclusive);
  EXPECT_NE(before.error.message().find("lets 3 more"), absl::string_view::npos) << before.error;

  allocator.RemovePod("uid-filler-0");
  allocator.RemovePod("uid-filler-1");
  allocator.RemovePod("uid-big");

  // 4 are live now: 50% of 5 lets 2 share.
  ContainerDecision after = AddOne(allocator, OneContainer("big-again", 9));
  EXPECT_FALSE(after.exclusive);
  EXPECT_NE(after.error.message().find("lets 2 more"), absl::string_view::npos) << after.error;
}

TEST(AllocatorSharingBudget, CreateRejectsAPercentageOver100) {
  Topology topology = BuildTopology(1, 2, 2);
  AllocatorOptions options;
  options.sharing_budget_percent = 101;

  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology, options);

  EXPECT_FALSE(allocator.ok());
  EXPECT_NE(allocator.status().message().find("invalid sharing budget 101%"),
            absl::string_view::npos)
      << allocator.status();
}

}  // namespace
}  // namespace numapin
