// NodeAllocator invariants under seeded churn on every fixture topology: pods never share an
// exclusive CPU, reserved CPUs are never exclusive, the shared pool is never empty, and removing
// every pod brings the allocator back to its fresh state.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "policy/allocator.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::LoadFixture;
using testing::MakeRequest;
using testing::MustCreate;
using testing::OneContainer;

struct ChurnCase {
  const char* fixture;
  bool strict_cpu_reservation;
  bool full_pcpus_only;
  bool keep_node_holes = false;
};

class AllocatorChurnTest : public ::testing::TestWithParam<ChurnCase> {
 protected:
  AllocatorOptions Options(const Topology& topology) const {
    AllocatorOptions options;
    options.reserved_cpus = topology.SiblingsOf(topology.assignable_cpus().First());
    options.strict_cpu_reservation = GetParam().strict_cpu_reservation;
    options.full_pcpus_only = GetParam().full_pcpus_only;
    options.keep_node_holes = GetParam().keep_node_holes;
    return options;
  }
};

// A pod of one app container, or an init container and two app containers.
PodRequest RandomPod(std::mt19937& random, int index, int smt_width, bool whole_cores) {
  auto size = [&]() {
    int cpus = 1 + static_cast<int>(random() % 8);
    return whole_cores ? (cpus + smt_width - 1) / smt_width * smt_width : cpus;
  };
  std::string name = "pod" + std::to_string(index);
  if (random() % 4 != 0) return OneContainer(name, size());
  return MakeRequest(name, {{.name = "setup", .cpus = size(), .init = true},
                            {.name = "a", .cpus = size()},
                            {.name = "b", .cpus = size()}});
}

void CheckInvariants(const Topology& topology, const NodeAllocator& allocator,
                     const AllocatorOptions& options) {
  CpuSet exclusive = allocator.ExclusiveCpus();
  CpuSet shared = allocator.SharedPool();
  EXPECT_FALSE(shared.Empty());
  EXPECT_FALSE(exclusive.Intersects(options.reserved_cpus)) << exclusive.ToString();
  EXPECT_FALSE(exclusive.Intersects(shared)) << shared.ToString();
  CpuSet accounted = exclusive.Union(shared);
  if (options.strict_cpu_reservation) accounted |= options.reserved_cpus;
  EXPECT_EQ(accounted, topology.assignable_cpus());

  std::map<std::string, CpuSet> by_pod;
  for (const AssignmentRecord& record : allocator.Assignments()) {
    const Assignment& assignment = record.assignment;
    EXPECT_EQ(assignment.numa_nodes, topology.NodesOf(assignment.cpus)) << record.container;
    EXPECT_FALSE(assignment.mems.Empty()) << record.pod_key;
    EXPECT_TRUE(assignment.mems.IsSubsetOf(assignment.numa_nodes)) << record.pod_key;
    EXPECT_TRUE(assignment.cpus.IsSubsetOf(exclusive)) << record.pod_key;
    if (options.full_pcpus_only) {
      EXPECT_TRUE(testing::CoversWholeCores(topology, assignment.cpus)) << record.pod_key;
    }
    by_pod[record.pod_uid] |= assignment.cpus;
  }
  for (auto a = by_pod.begin(); a != by_pod.end(); ++a) {
    for (auto b = std::next(a); b != by_pod.end(); ++b) {
      EXPECT_FALSE(a->second.Intersects(b->second)) << a->first << " and " << b->first;
    }
  }
}

std::vector<std::string> FixedSequence(NodeAllocator& allocator, bool whole_cores, int smt) {
  std::vector<std::string> cpus;
  for (int i = 0; i < 12; ++i) {
    int count = whole_cores ? smt * (1 + i % 3) : 1 + i % 5;
    std::vector<ContainerDecision> decisions =
        allocator.AddRequest(OneContainer("fixed" + std::to_string(i), count));
    cpus.push_back(decisions[0].assignment.cpus.ToString());
  }
  return cpus;
}

TEST_P(AllocatorChurnTest, InvariantsHoldAndRemovalResets) {
  Topology topology = LoadFixture(GetParam().fixture);
  AllocatorOptions options = Options(topology);
  NodeAllocator allocator = MustCreate(topology, options);
  std::mt19937 random(11);
  std::vector<std::string> live;

  for (int i = 0; i < 300; ++i) {
    if (!live.empty() && random() % 5 < 2) {
      size_t victim = random() % live.size();
      allocator.RemovePod(live[victim]);
      live.erase(live.begin() + victim);
    } else {
      PodRequest request = RandomPod(random, i, topology.SmtWidth(), GetParam().full_pcpus_only);
      allocator.AddRequest(request);
      if (random() % 2 == 0) allocator.FinishInit(request.pod_uid);
      live.push_back(request.pod_uid);
    }
    CheckInvariants(topology, allocator, options);
    if (::testing::Test::HasFailure()) FAIL() << "after event " << i;
  }

  for (const std::string& uid : live) allocator.RemovePod(uid);
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
  NodeAllocator fresh = MustCreate(topology, options);
  EXPECT_EQ(FixedSequence(allocator, GetParam().full_pcpus_only, topology.SmtWidth()),
            FixedSequence(fresh, GetParam().full_pcpus_only, topology.SmtWidth()));
}

INSTANTIATE_TEST_SUITE_P(Topologies, AllocatorChurnTest,
                         ::testing::Values(ChurnCase{"24em64t-2n6c2t-pci.xml", false, false},
                                           ChurnCase{"24em64t-2n6c2t-pci.xml", true, true},
                                           ChurnCase{"192em64t-24n8c2t.xml", false, false},
                                           ChurnCase{"192em64t-24n8c2t.xml", true, false},
                                           ChurnCase{"16amd64-4distances.xml", false, false},
                                           ChurnCase{"16em64t-4s2c2t.xml", false, true},
                                           ChurnCase{"28intel64-2p2g7c-CoDgroups.v1tov2.xml", false,
                                                     false},
                                           ChurnCase{"32em64t-2n8c2t-pci-noio.xml", true, false},
                                           ChurnCase{"8intel64-4n2t-memattrs.xml", false, false},
                                           ChurnCase{"96em64t-4n4d3ca2co-pci.xml", false, false},
                                           ChurnCase{"24em64t-2n6c2t-pci.xml", false, false, true},
                                           ChurnCase{"192em64t-24n8c2t.xml", false, true, true}),
                         [](const ::testing::TestParamInfo<ChurnCase>& info) {
                           std::string name = info.param.fixture;
                           name = name.substr(0, name.find('.'));
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           if (info.param.strict_cpu_reservation) name += "_strict";
                           if (info.param.full_pcpus_only) name += "_fullpcpus";
                           if (info.param.keep_node_holes) name += "_holes";
                           return name;
                         });

}  // namespace
}  // namespace numapin
