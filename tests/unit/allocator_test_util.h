// Helpers for the NodeAllocator tests: fixture topologies, hand-built topologies and pod requests
// built directly, without admission.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "policy/admission.h"
#include "policy/allocator.h"
#include "policy/topology.h"
#include "tests/unit/fixtures.h"

namespace numapin::testing {

// Loads tests/fixtures/topologies/NAME.
inline Topology LoadFixture(const std::string& name) {
  return MustLoadTopology(TopologyFixture(name));
}

// `nodes` NUMA nodes of `cores_per_node` cores of `smt` siblings each. CPUs are numbered node by
// node and core by core, siblings adjacent: node 0 core 0 is CPUs 0..smt-1. `distances` is the
// row-major matrix (empty for none); `memory_bytes` is every node's memory.
inline Topology BuildTopology(int nodes, int cores_per_node, int smt,
                              std::vector<int> distances = {},
                              uint64_t memory_bytes = uint64_t{1} << 30) {
  std::vector<Core> cores;
  std::vector<NumaNode> numa_nodes;
  CpuSet all;
  for (int node = 0; node < nodes; ++node) {
    numa_nodes.push_back({.id = node, .cpus = {}, .memory_bytes = memory_bytes});
    for (int core = 0; core < cores_per_node; ++core) {
      Core c;
      c.numa_node = node;
      c.package = node;
      int base = (node * cores_per_node + core) * smt;
      c.cpus = CpuSet::Range(base, base + smt - 1);
      all |= c.cpus;
      cores.push_back(c);
    }
  }
  absl::StatusOr<Topology> topology =
      Topology::Build("test", std::move(cores), {}, std::move(numa_nodes), all, distances);
  EXPECT_TRUE(topology.ok()) << topology.status();
  return topology.ok() ? *std::move(topology) : Topology();
}

struct ContainerSpecForTest {
  std::string name = "app";
  int cpus = 0;
  bool init = false;
  bool sidecar = false;
};

inline PodRequest MakeRequest(const std::string& name, std::vector<ContainerSpecForTest> containers,
                              std::optional<int> preferred_node = std::nullopt,
                              NumaPolicy policy = NumaPolicy::kPreferred) {
  PodRequest request;
  request.pod_uid = "uid-" + name;
  request.pod_key = "default/" + name;
  request.qos = QosClass::kGuaranteed;
  request.preferred_node = preferred_node;
  request.numa_policy = policy;
  for (const ContainerSpecForTest& spec : containers) {
    ContainerRequest container;
    container.container = spec.name;
    container.init = spec.init;
    container.sidecar = spec.sidecar;
    container.exclusive_cpus = spec.cpus;
    request.containers.push_back(container);
  }
  return request;
}

// One pod with one app container of `cpus` CPUs.
inline PodRequest OneContainer(const std::string& name, int cpus,
                               std::optional<int> preferred_node = std::nullopt,
                               NumaPolicy policy = NumaPolicy::kPreferred) {
  return MakeRequest(name, {{.name = "app", .cpus = cpus}}, preferred_node, policy);
}

inline NodeAllocator MustCreate(const Topology& topology, AllocatorOptions options = {}) {
  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology, std::move(options));
  EXPECT_TRUE(allocator.ok()) << allocator.status();
  return *std::move(allocator);
}

// Adds a pod of one container and returns its decision, failing the test when there is not
// exactly one.
inline ContainerDecision AddOne(NodeAllocator& allocator, const PodRequest& request) {
  std::vector<ContainerDecision> decisions = allocator.AddRequest(request);
  EXPECT_EQ(decisions.size(), 1u);
  return decisions.empty() ? ContainerDecision() : decisions[0];
}

// Whether every core that `cpus` touches lies wholly inside `cpus`.
inline bool CoversWholeCores(const Topology& topology, const CpuSet& cpus) {
  bool whole = true;
  cpus.ForEach([&](int cpu) { whole = whole && topology.SiblingsOf(cpu).IsSubsetOf(cpus); });
  return whole;
}

}  // namespace numapin::testing
