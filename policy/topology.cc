// Topology value: validation of its parts and the per-CPU indexes derived from them.
#include "policy/topology.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace numapin {

absl::StatusOr<Topology> Topology::Build(std::string source, std::vector<Core> cores,
                                         std::vector<L3Cache> l3_caches,
                                         std::vector<NumaNode> nodes, CpuSet assignable,
                                         std::vector<int> distances) {
  Topology topology;
  topology.source_ = std::move(source);
  if (nodes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology ", topology.source_, " has no NUMA node"));
  }
  if (!distances.empty() && distances.size() != nodes.size() * nodes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("topology ", topology.source_,
                                                   ": distance matrix has ", distances.size(),
                                                   " entries for ", nodes.size(), " NUMA nodes"));
  }

  int max_cpu = -1;
  for (const Core& core : cores) {
    for (int cpu : core.cpus.ToVector()) max_cpu = std::max(max_cpu, cpu);
  }
  topology.node_of_cpu_.assign(max_cpu + 1, -1);
  topology.core_of_cpu_.assign(max_cpu + 1, -1);

  int max_node = 0;
  for (const NumaNode& node : nodes) max_node = std::max(max_node, node.id);
  topology.node_position_.assign(max_node + 1, -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (topology.node_position_[nodes[i].id] != -1) {
      return absl::InvalidArgumentError(absl::StrCat("topology ", topology.source_, ": NUMA node ",
                                                     nodes[i].id, " appears twice"));
    }
    topology.node_position_[nodes[i].id] = static_cast<int>(i);
  }

  for (size_t i = 0; i < cores.size(); ++i) {
    cores[i].index = static_cast<int>(i);
    if (cores[i].numa_node < 0 || cores[i].numa_node > max_node ||
        topology.node_position_[cores[i].numa_node] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("topology ", topology.source_, ": core of CPUs ", cores[i].cpus.ToString(),
                       " names unknown NUMA node ", cores[i].numa_node));
    }
    topology.smt_width_ = std::max(topology.smt_width_, cores[i].cpus.Size());
    for (int cpu : cores[i].cpus.ToVector()) {
      if (topology.core_of_cpu_[cpu] != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("topology ", topology.source_, ": CPU ", cpu, " is in two cores"));
      }
      topology.core_of_cpu_[cpu] = static_cast<int>(i);
      topology.node_of_cpu_[cpu] = cores[i].numa_node;
    }
  }

  // A node's CPUs are the assignable CPUs of its cores, whatever the loader passed.
  for (NumaNode& node : nodes) node.cpus.Clear();
  CpuSet known;
  for (const Core& core : cores) known |= core.cpus;
  topology.assignable_ = assignable.Intersection(known);
  for (const Core& core : cores) {
    NumaNode& node = nodes[topology.node_position_[core.numa_node]];
    node.cpus |= core.cpus.Intersection(topology.assignable_);
  }

  topology.cores_ = std::move(cores);
  topology.l3_caches_ = std::move(l3_caches);
  topology.nodes_ = std::move(nodes);
  topology.distances_ = std::move(distances);
  return topology;
}

int Topology::NodePosition(int node_id) const {
  if (node_id < 0 || node_id >= static_cast<int>(node_position_.size())) return -1;
  return node_position_[node_id];
}

bool Topology::HasNode(int node_id) const { return NodePosition(node_id) >= 0; }

const NumaNode* Topology::FindNode(int node_id) const {
  int position = NodePosition(node_id);
  return position < 0 ? nullptr : &nodes_[position];
}

CpuSet Topology::NodeIds() const {
  CpuSet ids;
  for (const NumaNode& node : nodes_) ids.Add(node.id);
  return ids;
}

CpuSet Topology::NodesWithMemory() const {
  CpuSet ids;
  for (const NumaNode& node : nodes_) {
    if (node.memory_bytes > 0) ids.Add(node.id);
  }
  return ids;
}

int Topology::NodeOf(int cpu) const {
  if (cpu < 0 || cpu >= static_cast<int>(node_of_cpu_.size())) return -1;
  return node_of_cpu_[cpu];
}

int Topology::CoreOf(int cpu) const {
  if (cpu < 0 || cpu >= static_cast<int>(core_of_cpu_.size())) return -1;
  return core_of_cpu_[cpu];
}

int Topology::L3Of(int cpu) const {
  const Core* core = CoreOfCpu(cpu);
  return core == nullptr ? -1 : core->l3;
}

const Core* Topology::CoreOfCpu(int cpu) const {
  int core = CoreOf(cpu);
  return core < 0 ? nullptr : &cores_[core];
}

CpuSet Topology::SiblingsOf(int cpu) const {
  const Core* core = CoreOfCpu(cpu);
  return core == nullptr ? CpuSet() : core->cpus;
}

CpuSet Topology::NodesOf(const CpuSet& cpus) const {
  CpuSet ids;
  cpus.ForEach([&](int cpu) {
    int node = NodeOf(cpu);
    if (node >= 0) ids.Add(node);
  });
  return ids;
}

int Topology::Distance(int from_node, int to_node) const {
  if (from_node == to_node) return kLocalDistance;
  int from = NodePosition(from_node);
  int to = NodePosition(to_node);
  if (distances_.empty() || from < 0 || to < 0) return kRemoteDistance;
  return distances_[from * nodes_.size() + to];
}

}  // namespace numapin
