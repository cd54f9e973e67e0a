// Tests LoadTopology("host") inside the lab guest, where the kernel reports several NUMA nodes,
// SMT siblings and a distance matrix that the single-node development host cannot show.
// LAB_TOPOLOGY names the lab topology the guest was booted with (tools/lab/run --topology).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "policy/topology.h"

namespace numapin {
namespace {

// What the guest kernel reports for one lab topology (see tools/lab/topologies.sh).
struct ExpectedTopology {
  std::vector<std::string> node_cpus;  // Indexed by node OS index, kernel list format.
  std::vector<std::vector<int>> distances;
  std::vector<std::string> siblings;  // Indexed by CPU OS index, kernel list format.
  std::vector<int> packages;          // Indexed by CPU OS index.
  int smt_width;
};

const std::map<std::string, ExpectedTopology>& LabTopologies() {
  static const auto* topologies = new std::map<std::string, ExpectedTopology>{
      {"2s2c2t",
       {{"0-3", "4-7"},
        {{10, 20}, {20, 10}},
        {"0-1", "0-1", "2-3", "2-3", "4-5", "4-5", "6-7", "6-7"},
        {0, 0, 0, 0, 1, 1, 1, 1},
        2}},
      {"4n2c1t",
       {{"0-1", "2-3", "4-5", "6-7"},
        {{10, 12, 20, 30}, {12, 10, 30, 20}, {20, 30, 10, 12}, {30, 20, 12, 10}},
        {"0", "1", "2", "3", "4", "5", "6", "7"},
        {0, 0, 1, 1, 2, 2, 3, 3},
        1}},
  };
  return *topologies;
}

class HostTopologyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* name = std::getenv("LAB_TOPOLOGY");
    ASSERT_NE(name, nullptr) << "LAB_TOPOLOGY is not set; run this test through tools/lab/run";
    auto found = LabTopologies().find(name);
    ASSERT_NE(found, LabTopologies().end()) << "unknown LAB_TOPOLOGY " << name;
    expected_ = &found->second;

    absl::StatusOr<Topology> loaded = LoadTopology("host");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    topology_ = *std::move(loaded);
  }

  const ExpectedTopology* expected_ = nullptr;
  Topology topology_;
};

TEST_F(HostTopologyTest, NodesHaveTheirCpus) {
  ASSERT_EQ(topology_.numa_nodes().size(), expected_->node_cpus.size());
  for (size_t node = 0; node < expected_->node_cpus.size(); ++node) {
    const NumaNode* found = topology_.FindNode(node);
    ASSERT_NE(found, nullptr) << "node " << node;
    EXPECT_EQ(found->cpus.ToString(), expected_->node_cpus[node]) << "node " << node;
    EXPECT_GT(found->memory_bytes, 0u) << "node " << node;
  }
}

TEST_F(HostTopologyTest, CpusHaveTheirSiblingsAndPackage) {
  EXPECT_EQ(topology_.assignable_cpus().ToString(), "0-7");
  EXPECT_EQ(topology_.SmtWidth(), expected_->smt_width);
  for (int cpu = 0; cpu < static_cast<int>(expected_->siblings.size()); ++cpu) {
    EXPECT_EQ(topology_.SiblingsOf(cpu).ToString(), expected_->siblings[cpu]) << "CPU " << cpu;
    const Core* core = topology_.CoreOfCpu(cpu);
    ASSERT_NE(core, nullptr) << "CPU " << cpu;
    EXPECT_EQ(core->package, expected_->packages[cpu]) << "CPU " << cpu;
  }
}

TEST_F(HostTopologyTest, DistancesMatchTheMatrix) {
  ASSERT_TRUE(topology_.HasDistanceMatrix());
  for (size_t from = 0; from < expected_->distances.size(); ++from) {
    for (size_t to = 0; to < expected_->distances.size(); ++to) {
      EXPECT_EQ(topology_.Distance(from, to), expected_->distances[from][to])
          << "from node " << from << " to node " << to;
    }
  }
}

}  // namespace
}  // namespace numapin
