// Topology: the node's CPUs, SMT siblings, cores, L3 caches, packages and NUMA nodes as a plain
// value. Every id here is an OS index (what Linux and cgroups use), never an hwloc logical index.
// Built by LoadTopology (hwloc_topology.cc) or by hand in tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/cpuset.h"

namespace numapin {

// A physical core: the CPUs (hardware threads) that are SMT siblings of each other.
struct Core {
  int index = 0;  // Position in Topology::cores(), not a kernel id (core ids repeat per package).
  int package = -1;   // Package OS index, -1 when the topology has no package objects.
  int numa_node = 0;  // NUMA node OS index.
  int l3 = -1;        // Position in Topology::l3_caches(), -1 when there is no L3.
  CpuSet cpus;        // All of the core's PUs, including offline or disallowed ones.
};

struct L3Cache {
  CpuSet cpus;
};

struct NumaNode {
  int id = 0;                 // OS index.
  CpuSet cpus;                // Assignable CPUs of the node (online and allowed).
  uint64_t memory_bytes = 0;  // Local memory; 0 for a CPU-only node.
};

class Topology {
 public:
  // Distance hwloc and ACPI SLIT use for a node to itself and, when no matrix is known, between
  // two different nodes.
  static constexpr int kLocalDistance = 10;
  static constexpr int kRemoteDistance = 20;

  Topology() = default;

  // Builds a topology from its parts and derives the per-CPU indexes. `assignable` is the set of
  // CPUs that are online and allowed. `distances` is row-major over `nodes` in the order given
  // (empty when unknown).
  static absl::StatusOr<Topology> Build(std::string source, std::vector<Core> cores,
                                        std::vector<L3Cache> l3_caches, std::vector<NumaNode> nodes,
                                        CpuSet assignable, std::vector<int> distances);

  const std::string& source() const { return source_; }
  const std::vector<Core>& cores() const { return cores_; }
  const std::vector<L3Cache>& l3_caches() const { return l3_caches_; }
  const std::vector<NumaNode>& numa_nodes() const { return nodes_; }

  // Online and allowed CPUs: the only CPUs that can ever be exclusive or in the shared pool.
  const CpuSet& assignable_cpus() const { return assignable_; }

  bool HasNode(int node_id) const;
  const NumaNode* FindNode(int node_id) const;  // nullptr when absent.
  CpuSet NodeIds() const;                       // Every NUMA node OS index.
  CpuSet NodesWithMemory() const;

  // Per-CPU lookups; a CPU that is not in the topology gives -1 (or nullptr).
  int NodeOf(int cpu) const;
  int CoreOf(int cpu) const;
  int L3Of(int cpu) const;
  const Core* CoreOfCpu(int cpu) const;
  CpuSet SiblingsOf(int cpu) const;  // The CPU's core, including the CPU itself.

  // The NUMA nodes that the given CPUs lie on.
  CpuSet NodesOf(const CpuSet& cpus) const;

  // Distance between two NUMA nodes by OS index: kLocalDistance for a node to itself,
  // kRemoteDistance between nodes when the topology has no matrix.
  int Distance(int from_node, int to_node) const;
  bool HasDistanceMatrix() const { return !distances_.empty(); }

  // Largest number of hardware threads per core (1 without SMT).
  int SmtWidth() const { return smt_width_; }

 private:
  int NodePosition(int node_id) const;

  std::string source_;
  std::vector<Core> cores_;
  std::vector<L3Cache> l3_caches_;
  std::vector<NumaNode> nodes_;
  CpuSet assignable_;
  std::vector<int> distances_;  // Row-major, nodes_.size() squared, or empty.
  int smt_width_ = 1;

  // Indexed by CPU OS index; -1 where the CPU is absent.
  std::vector<int> node_of_cpu_;
  std::vector<int> core_of_cpu_;
  std::vector<int> node_position_;  // Indexed by node OS index.
};

// Loads a topology through hwloc. `source` is one of:
//   host                  this machine: every online CPU from sysfs, not just this process's cpuset
//   xml:PATH              an hwloc XML export (lstopo --of xml)
//   synthetic:DESCRIPTION an hwloc synthetic description such as "package:2 numa:1 core:6 pu:2"
absl::StatusOr<Topology> LoadTopology(const std::string& source);

}  // namespace numapin
