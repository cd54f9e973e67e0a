// NodeAllocator placement rules: whole cores, one L3, the preferred or best-fit NUMA node, strict
// policy, spilling by distance, reserved CPUs, full-pcpus-only and the shared pool, over real
// topology exports and hand-built ones.
#include "policy/allocator.h"

#include <gtest/gtest.h>

#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::BuildTopology;
using testing::CoversWholeCores;
using testing::LoadFixture;
using testing::MustCreate;
using testing::OneContainer;

ContainerDecision AddOne(NodeAllocator& allocator, const PodRequest& request) {
  std::vector<ContainerDecision> decisions = allocator.AddRequest(request);
  EXPECT_EQ(decisions.size(), 1u);
  return decisions.empty() ? ContainerDecision() : decisions[0];
}

class AllocatorFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(AllocatorFixtureTest, EvenRequestTakesWholeCoresOnOneNode) {
  Topology topology = LoadFixture(GetParam());
  NodeAllocator allocator = MustCreate(topology);
  const int count = 2 * topology.SmtWidth();

  ContainerDecision decision = AddOne(allocator, OneContainer("web", count));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.cpus.Size(), count);
  EXPECT_TRUE(CoversWholeCores(topology, decision.assignment.cpus))
      << decision.assignment.cpus.ToString();
  EXPECT_EQ(decision.assignment.numa_nodes.Size(), 1) << decision.assignment.numa_nodes.ToString();
  EXPECT_FALSE(decision.assignment.mems.Empty());
  EXPECT_TRUE(decision.assignment.mems.IsSubsetOf(decision.assignment.numa_nodes));
  EXPECT_FALSE(allocator.SharedPool().Intersects(decision.assignment.cpus));
  EXPECT_EQ(allocator.ExclusiveCpus(), decision.assignment.cpus);
}

TEST_P(AllocatorFixtureTest, FillsEveryNodeWithOneNodeAssignments) {
  Topology topology = LoadFixture(GetParam());
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{topology.assignable_cpus().First()};
  NodeAllocator allocator = MustCreate(topology, options);

  int admitted = 0;
  // Requests of 1 and 2 CPUs fit on a node of every fixture, so none of them may spread.
  for (int i = 0; i < 600; ++i) {
    ContainerDecision decision =
        AddOne(allocator, OneContainer("pod" + std::to_string(i), 1 + i % 2));
    if (!decision.exclusive) continue;
    ++admitted;
    EXPECT_EQ(decision.assignment.numa_nodes.Size(), 1) << decision.assignment.cpus.ToString();
  }
  EXPECT_GT(admitted, 0);
  EXPECT_EQ(allocator.SharedPool(), options.reserved_cpus);
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), topology.assignable_cpus().Size() - 1);
}

TEST_P(AllocatorFixtureTest, PreferredNodeHonoredOnEveryNode) {
  Topology topology = LoadFixture(GetParam());
  NodeAllocator allocator = MustCreate(topology);

  for (const NumaNode& node : topology.numa_nodes()) {
    if (node.cpus.Empty()) continue;
    std::string name = "on-node-" + std::to_string(node.id);
    ContainerDecision decision = AddOne(allocator, OneContainer(name, 1, node.id));
    ASSERT_TRUE(decision.exclusive) << name << ": " << decision.error;
    EXPECT_EQ(decision.assignment.numa_nodes, CpuSet{node.id}) << name;
    EXPECT_TRUE(decision.assignment.cpus.IsSubsetOf(node.cpus)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Topologies, AllocatorFixtureTest,
                         ::testing::Values("16amd64-4distances.xml", "16em64t-4s2c2t.xml",
                                           "192em64t-24n8c2t.xml", "24em64t-2n6c2t-pci.xml",
                                           "28intel64-2p2g7c-CoDgroups.v1tov2.xml",
                                           "32em64t-2n8c2t-pci-noio.xml",
                                           "8intel64-4n2t-memattrs.xml",
                                           "96em64t-4n4d3ca2co-pci.xml"));

TEST(AllocatorWholeCores, InterleavedNumberingPairsSiblingsAtOffset) {
  Topology topology = LoadFixture("24em64t-2n6c2t-pci.xml");
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 12};
  NodeAllocator allocator = MustCreate(topology, options);

  // Node 0 has the even CPUs, 10 of them free, node 1 has 12: best fit is node 0.
  ContainerDecision first = AddOne(allocator, OneContainer("a", 2));
  EXPECT_EQ(first.assignment.cpus.ToString(), "2,14");
  EXPECT_EQ(first.assignment.numa_nodes.ToString(), "0");

  ContainerDecision second = AddOne(allocator, OneContainer("b", 4, /*preferred_node=*/1));
  EXPECT_EQ(second.assignment.cpus.ToString(), "1,3,13,15");
  EXPECT_EQ(second.assignment.mems.ToString(), "1");
}

TEST(AllocatorWholeCores, OddRequestSplitsOneFreshCore) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("odd", 3));

  EXPECT_EQ(decision.assignment.cpus.ToString(), "0-2");
  EXPECT_EQ(allocator.SharedPool().ToString(), "3-7");
}

TEST(AllocatorNuma, NodeOrderDiffersFromCpuOrder) {
  Topology topology = LoadFixture("16amd64-4distances.xml");
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2, /*preferred_node=*/0));

  EXPECT_EQ(decision.assignment.cpus, topology.FindNode(0)->cpus);
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0");
  EXPECT_EQ(decision.assignment.mems.ToString(), "0");
}

TEST(AllocatorNuma, PreferredNodeWinsOverBestFit) {
  Topology topology = BuildTopology(2, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/0));

  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2, /*preferred_node=*/1));

  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "1");
}

TEST(AllocatorNuma, TieGoesToTheLowestNodeId) {
  Topology topology = BuildTopology(3, 2, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));

  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0");
}

TEST(AllocatorNuma, PreferredNodeFullFallsBackToBestFit) {
  Topology topology = BuildTopology(2, 2, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));

  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2, /*preferred_node=*/1));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0");
}

TEST(AllocatorStrict, PreferredNodeFullIsRejectedWithCounts) {
  Topology topology = BuildTopology(2, 3, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("filler", 4, /*preferred_node=*/1));

  ContainerDecision decision =
      AddOne(allocator, OneContainer("db", 4, /*preferred_node=*/1, NumaPolicy::kStrict));

  EXPECT_FALSE(decision.exclusive);
  EXPECT_EQ(std::string(decision.error.message()),
            "pod default/db container app: cannot allocate 4 exclusive CPUs: not enough free CPUs "
            "on NUMA node 1: requested 4, free 2");
}

TEST(AllocatorStrict, WithoutPreferredNodeUsesOneNodeOrNone) {
  Topology topology = BuildTopology(2, 2, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision fits =
      AddOne(allocator, OneContainer("fits", 3, std::nullopt, NumaPolicy::kStrict));
  ContainerDecision too_big =
      AddOne(allocator, OneContainer("big", 5, std::nullopt, NumaPolicy::kStrict));

  EXPECT_EQ(fits.assignment.numa_nodes.Size(), 1);
  EXPECT_FALSE(too_big.exclusive);
  EXPECT_NE(too_big.error.message().find("numa-policy strict keeps a container on one node"),
            absl::string_view::npos)
      << too_big.error;
}

TEST(AllocatorSpill, SpreadsOverTheClosestNodes) {
  // Node 0 is closer to node 2 (distance 12) than to node 1 (distance 30).
  Topology topology = BuildTopology(3, 2, 2, {10, 30, 12, 30, 10, 30, 12, 30, 10});
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("wide", 6, /*preferred_node=*/0));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0,2");
  EXPECT_EQ(decision.assignment.cpus.ToString(), "0-3,8-9");
  EXPECT_EQ(decision.assignment.mems.ToString(), "0,2");
}

TEST(AllocatorSpill, UsesTheFewestNodes) {
  Topology topology = BuildTopology(4, 2, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("half0", 2, /*preferred_node=*/0));
  AddOne(allocator, OneContainer("half1", 2, /*preferred_node=*/1));

  // Nodes 2 and 3 are empty: 8 CPUs fit on those two, where 0 and 1 would need three nodes.
  ContainerDecision decision = AddOne(allocator, OneContainer("wide", 8));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "2-3");
}

TEST(AllocatorSpill, NotWhileOneNodeCouldHoldTheRequest) {
  Topology topology = BuildTopology(2, 2, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("a", 2, /*preferred_node=*/0));
  AddOne(allocator, OneContainer("b", 2, /*preferred_node=*/1));

  ContainerDecision decision = AddOne(allocator, OneContainer("c", 3));

  EXPECT_FALSE(decision.exclusive);
  EXPECT_NE(decision.error.message().find("is not spread over several nodes"),
            absl::string_view::npos)
      << decision.error;
}

TEST(AllocatorSpill, OnShortageWhenAsked) {
  Topology topology = BuildTopology(2, 2, 2);
  AllocatorOptions options;
  options.spill_on_shortage = true;
  NodeAllocator allocator = MustCreate(topology, options);
  AddOne(allocator, OneContainer("a", 2, /*preferred_node=*/0));
  AddOne(allocator, OneContainer("b", 2, /*preferred_node=*/1));

  ContainerDecision decision = AddOne(allocator, OneContainer("c", 3));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.numa_nodes.ToString(), "0-1");
}

TEST(AllocatorSpill, WholeCoresOnEachNode) {
  Topology topology = BuildTopology(2, 2, 2);
  AllocatorOptions options;
  options.full_pcpus_only = true;
  options.reserved_cpus = CpuSet{0};
  NodeAllocator allocator = MustCreate(topology, options);

  // Node 0 has one whole free core (2-3), node 1 has two: 6 CPUs exceed any node's whole cores.
  ContainerDecision decision = AddOne(allocator, OneContainer("wide", 6));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  EXPECT_EQ(decision.assignment.cpus.ToString(), "2-7");
  EXPECT_TRUE(CoversWholeCores(topology, decision.assignment.cpus));
}

TEST(AllocatorSpill, RejectsMoreThanTheMachineHas) {
  Topology topology = BuildTopology(2, 2, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("huge", 9));

  EXPECT_FALSE(decision.exclusive);
  EXPECT_NE(decision.error.message().find("requested 9, free 8 over all NUMA nodes"),
            absl::string_view::npos)
      << decision.error;
}

TEST(AllocatorWholeCores, SingleThreadCoreBeforeSplittingOne) {
  std::vector<Core> cores(3);
  cores[0].cpus = CpuSet{0, 1};
  cores[1].cpus = CpuSet{2};
  cores[2].cpus = CpuSet{3};
  absl::StatusOr<Topology> topology =
      Topology::Build("hybrid", cores, {}, {{.id = 0, .cpus = {}, .memory_bytes = 1 << 30}},
                      CpuSet::Range(0, 3), {});
  ASSERT_TRUE(topology.ok()) << topology.status();
  NodeAllocator allocator = MustCreate(*topology);

  ContainerDecision single = AddOne(allocator, OneContainer("single", 1));
  ContainerDecision pair = AddOne(allocator, OneContainer("pair", 2));

  EXPECT_EQ(single.assignment.cpus.ToString(), "2");
  EXPECT_EQ(pair.assignment.cpus.ToString(), "0-1");
}

TEST(AllocatorL3, PrefersCpusUnderOneL3) {
  Topology topology = LoadFixture("96em64t-4n4d3ca2co-pci.xml");
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision decision = AddOne(allocator, OneContainer("cache", 6));

  ASSERT_TRUE(decision.exclusive) << decision.error;
  int l3 = topology.L3Of(decision.assignment.cpus.First());
  ASSERT_GE(l3, 0);
  EXPECT_EQ(decision.assignment.cpus, topology.l3_caches()[l3].cpus);
}

TEST(AllocatorReserved, NeverExclusiveButInTheSharedPool) {
  Topology topology = BuildTopology(1, 2, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 1};
  NodeAllocator allocator = MustCreate(topology, options);

  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));
  ContainerDecision rejected = AddOne(allocator, OneContainer("b", 1));

  EXPECT_EQ(decision.assignment.cpus.ToString(), "2-3");
  EXPECT_FALSE(rejected.exclusive);
  EXPECT_EQ(allocator.SharedPool().ToString(), "0-1");
}

TEST(AllocatorReserved, StrictReservationLeavesSharedPool) {
  Topology topology = BuildTopology(1, 3, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 1};
  options.strict_cpu_reservation = true;
  NodeAllocator allocator = MustCreate(topology, options);

  EXPECT_EQ(allocator.SharedPool().ToString(), "2-5");
  ContainerDecision decision = AddOne(allocator, OneContainer("a", 2));
  EXPECT_EQ(decision.assignment.cpus.ToString(), "2-3");
  EXPECT_EQ(allocator.SharedPool().ToString(), "4-5");
}

TEST(AllocatorReserved, CreateRejectsUnknownReservedCpus) {
  Topology topology = BuildTopology(1, 2, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{3, 9};

  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology, options);

  ASSERT_FALSE(allocator.ok());
  EXPECT_NE(allocator.status().message().find("reserved CPUs 9"), absl::string_view::npos)
      << allocator.status();
}

TEST(AllocatorReserved, CreateRejectsStrictReservationOfEveryCpu) {
  Topology topology = BuildTopology(1, 1, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 1};
  options.strict_cpu_reservation = true;

  EXPECT_FALSE(NodeAllocator::Create(topology, options).ok());
}

TEST(AllocatorFullPcpus, RejectsRequestNotAMultipleOfSmtWidth) {
  Topology topology = BuildTopology(1, 4, 2);
  AllocatorOptions options;
  options.full_pcpus_only = true;
  NodeAllocator allocator = MustCreate(topology, options);

  ContainerDecision decision = AddOne(allocator, OneContainer("odd", 3));

  EXPECT_FALSE(decision.exclusive);
  EXPECT_NE(decision.error.message().find("not a multiple of the SMT width 2"),
            absl::string_view::npos)
      << decision.error;
}

TEST(AllocatorFullPcpus, ReservedSiblingCoreIsNotFree) {
  Topology topology = BuildTopology(1, 3, 2);
  AllocatorOptions options;
  options.full_pcpus_only = true;
  options.reserved_cpus = CpuSet{0};
  NodeAllocator allocator = MustCreate(topology, options);

  ContainerDecision first = AddOne(allocator, OneContainer("a", 4));
  ContainerDecision second = AddOne(allocator, OneContainer("b", 2));

  // CPU 1 is free, but its sibling 0 is reserved, so core 0-1 is not a whole free core.
  EXPECT_EQ(first.assignment.cpus.ToString(), "2-5");
  EXPECT_FALSE(second.exclusive);
  EXPECT_NE(second.error.message().find("whole free cores"), absl::string_view::npos)
      << second.error;
}

TEST(AllocatorSharedPool, NeverEmptied) {
  Topology topology = BuildTopology(1, 2, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision all = AddOne(allocator, OneContainer("all", 4));
  ContainerDecision three = AddOne(allocator, OneContainer("three", 3));
  ContainerDecision last = AddOne(allocator, OneContainer("last", 1));

  EXPECT_FALSE(all.exclusive);
  EXPECT_NE(all.error.message().find("would empty the shared pool"), absl::string_view::npos)
      << all.error;
  EXPECT_TRUE(three.exclusive) << three.error;
  EXPECT_FALSE(last.exclusive);
  EXPECT_EQ(allocator.SharedPool().Size(), 1);
}

TEST(AllocatorSharing, OneCpuContainersPairOnOneCore) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  ContainerDecision a = AddOne(allocator, OneContainer("a", 1));
  ContainerDecision b = AddOne(allocator, OneContainer("b", 1));

  EXPECT_EQ(a.assignment.cpus.ToString(), "0");
  EXPECT_EQ(b.assignment.cpus.ToString(), "1");
}

TEST(AllocatorSharing, OneCpuContainerAvoidsAnOddContainersSibling) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  AddOne(allocator, OneContainer("odd", 3));  // 0-2; CPU 3 is the sibling of CPU 2.

  ContainerDecision single = AddOne(allocator, OneContainer("single", 1));

  EXPECT_EQ(single.assignment.cpus.ToString(), "4");
}

TEST(AllocatorSharing, OddCpuPrefersANodeWhereNoCoreSplits) {
  Topology topology = BuildTopology(2, 4, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 1, 8};
  NodeAllocator allocator = MustCreate(topology, options);

  // Node 0 has 6 free CPUs, all on fresh cores; node 1 has 7, and CPU 9 sits next to a reserved
  // sibling. Best fit alone would pick node 0 and split a core there for the odd CPU.
  ContainerDecision odd = AddOne(allocator, OneContainer("odd", 3));

  EXPECT_EQ(odd.assignment.cpus.ToString(), "9-11");
}

TEST(AllocatorSharing, OneCpuJoinsAContainerThatAlreadyShares) {
  Topology topology = BuildTopology(1, 7, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{12, 13};
  NodeAllocator allocator = MustCreate(topology, options);
  AddOne(allocator, OneContainer("g", 3));  // 0-2: CPU 3 is the sibling of unshared "g".
  AddOne(allocator, OneContainer("f", 2));  // 4-5
  AddOne(allocator, OneContainer("h", 2));  // 6-7
  AddOne(allocator, OneContainer("s", 1));  // 8
  ContainerDecision x = AddOne(allocator, OneContainer("x", 3));
  ASSERT_EQ(x.assignment.cpus.ToString(), "9-11") << "x shares core 8-9 with s";
  allocator.RemovePod("uid-s");

  // CPU 3 would make "g" start sharing; CPU 8 sits next to "x", which already has.
  ContainerDecision single = AddOne(allocator, OneContainer("single", 1));

  EXPECT_EQ(single.assignment.cpus.ToString(), "8");
}

// On 5 cores with core 8-9 reserved: "odd" takes 0-2, "filler" 4-5 and "pair" 6, which leaves
// CPU 3 (sibling of "odd", of 3 CPUs) and CPU 7 (sibling of "pair", of 1 CPU) free.
void FillFiveCores(NodeAllocator& allocator) {
  AddOne(allocator, OneContainer("odd", 3));
  AddOne(allocator, OneContainer("filler", 2));
  AddOne(allocator, OneContainer("pair", 1));
}

TEST(AllocatorSharing, SparesTheCoreOfAnUnsharedContainer) {
  Topology topology = BuildTopology(1, 5, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{8, 9};
  NodeAllocator allocator = MustCreate(topology, options);
  FillFiveCores(allocator);
  ASSERT_EQ(allocator.ExclusiveCpus().ToString(), "0-2,4-6");

  // A 2-CPU container would make "odd" share a core, so it waits in the shared pool.
  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));
  EXPECT_FALSE(two.exclusive);
  EXPECT_NE(two.error.message().find("1 more are spared as SMT siblings"), absl::string_view::npos)
      << two.error;

  // A 1-CPU container pairs with "pair" at no cost to either.
  ContainerDecision single = AddOne(allocator, OneContainer("single", 1));
  EXPECT_EQ(single.assignment.cpus.ToString(), "7");
}

TEST(AllocatorSharing, SharesUnsharedCoresWhenAllowed) {
  Topology topology = BuildTopology(1, 5, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{8, 9};
  options.spare_unshared_cores = false;
  NodeAllocator allocator = MustCreate(topology, options);
  FillFiveCores(allocator);

  ContainerDecision two = AddOne(allocator, OneContainer("two", 2));

  ASSERT_TRUE(two.exclusive) << two.error;
  EXPECT_EQ(two.assignment.cpus.ToString(), "3,7");
}

}  // namespace
}  // namespace numapin
