// NodeAllocator's choice among NUMA nodes of equal cost: keep a hole of half a node on each node
// (keep_node_holes), then the best fit, and the cost of sharing and splitting cores before both.
#include <gtest/gtest.h>

#include "policy/allocator.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::BuildTopology;
using testing::MustCreate;
using testing::OneContainer;

// Two nodes of 4 cores of 2 CPUs: node 0 is CPUs 0-7, node 1 is CPUs 8-15, and half a node is 4.
Topology TwoNodes() { return BuildTopology(2, 4, 2); }

NodeAllocator KeepingHoles(const Topology& topology) {
  AllocatorOptions options;
  options.keep_node_holes = true;
  return MustCreate(topology, options);
}

ContainerDecision AddOne(NodeAllocator& allocator, const PodRequest& request) {
  std::vector<ContainerDecision> decisions = allocator.AddRequest(request);
  EXPECT_EQ(decisions.size(), 1u);
  return decisions.empty() ? ContainerDecision() : decisions[0];
}

TEST(AllocatorHoles, SmallRequestKeepsAHalfNodeHole) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = KeepingHoles(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));

  // Node 1 has exactly half a node free. Taking 2 CPUs there would leave node 0 the only node
  // for a 4-CPU request, while taking them on node 0 leaves 6 there and 4 on node 1.
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0");
  EXPECT_EQ(decision.assignment.cpus.ToString(), "0-1");
}

TEST(AllocatorHoles, BestFitAloneByDefault) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));

  // Node 1 has 4 free CPUs and node 0 has 8: node 1 is the tighter fit.
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "1");
}

TEST(AllocatorHoles, BestFitWhileEveryNodeKeepsItsHole) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = KeepingHoles(topology);
  AddOne(allocator, OneContainer("filler", 2, /*preferred_node=*/1));

  // Node 1 goes from 6 free CPUs to 4 and still has half a node: no hole is lost anywhere.
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "1");
}

TEST(AllocatorHoles, EqualLossGoesToTheBestFit) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = KeepingHoles(topology);
  AddOne(allocator, OneContainer("filler-1", 6, /*preferred_node=*/1));
  AddOne(allocator, OneContainer("filler-0", 4, /*preferred_node=*/0));

  // Node 1 has 2 free CPUs, node 0 has 4: either loses 2 CPUs of its hole, so the tighter node 1
  // takes the request and node 0 keeps its 4.
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "1");
  EXPECT_EQ(allocator.SharedPool().ToString(), "4-7");
}

TEST(AllocatorHoles, BestFitCountsSparedSiblingsAsFree) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = MustCreate(topology);
  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3, /*preferred_node=*/0));
  ASSERT_EQ(odd.assignment.cpus.ToString(), "0-2") << "CPU 3 is the spared sibling of odd";
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));

  // Both nodes have room for 4 CPUs of a 2-CPU request at no cost, but node 0 also has CPU 3 free
  // for a later 1-CPU request, so node 1 is the tighter fit.
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "1");
  EXPECT_EQ(decision.assignment.cpus.ToString(), "12-13");
}

TEST(AllocatorHoles, CostComesBeforeTheHole) {
  Topology topology = TwoNodes();
  NodeAllocator allocator = KeepingHoles(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));
  ContainerDecision pair = AddOne(allocator, OneContainer("pair", 1, /*preferred_node=*/1));
  ASSERT_EQ(pair.assignment.cpus.ToString(), "12");

  // Node 1 (3 free CPUs) would lose one more CPU of its hole, but pairing with "pair" splits no
  // fresh core, while node 0 would have to split one.
  ContainerDecision decision = AddOne(allocator, OneContainer("single", 1));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.cpus.ToString(), "13");
}

}  // namespace
}  // namespace numapin
