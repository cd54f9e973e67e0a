// CpuPool: incremental per-core and per-node tallies of free CPUs, and the rules that choose a
// NUMA node, an L3 cache and cores for a request. Every loop runs over vectors in index order, so
// the same state and request always give the same CPUs.
#include "policy/cpu_picker.h"

#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace numapin {
// A 1-CPU container first pairs with another 1-CPU container, which costs neither of them
// anything, and splits a fresh core only when no such half is left. A larger container first
// splits a fresh core for its odd CPU, so that it shares a core with nobody.
const std::vector<CpuPool::Step>& CpuPool::FillOrder(int count) {
  static const std::vector<Step> kSingleCpu = {Step::kSingleNeighbor, Step::kNoNeighbor,
                                               Step::kSplitFreshCore, Step::kMultipleNeighbor};
  static const std::vector<Step> kSeveralCpus = {Step::kNoNeighbor, Step::kSplitFreshCore,
                                                 Step::kSingleNeighbor, Step::kMultipleNeighbor};
  return count == 1 ? kSingleCpu : kSeveralCpus;
}

CpuPool::CpuPool(const Topology& topology, const CpuSet& reserved)
    : topology_(&topology), smt_width_(topology.SmtWidth()) {
  int max_cpu = -1;
  for (const Core& core : topology.cores()) {
    core.cpus.ForEach([&](int cpu) { max_cpu = std::max(max_cpu, cpu); });
  }
  owner_size_.assign(max_cpu + 1, kUnavailableCpu);
  core_of_cpu_.assign(max_cpu + 1, -1);
  topology.assignable_cpus().ForEach([&](int cpu) {
    if (cpu <= max_cpu && !reserved.Contains(cpu)) {
      owner_size_[cpu] = kFreeCpu;
      free_.Add(cpu);
    }
  });

  std::vector<int> position_of_id;
  for (const NumaNode& node : topology.numa_nodes()) {
    if (node.id >= static_cast<int>(position_of_id.size())) position_of_id.resize(node.id + 1, -1);
    position_of_id[node.id] = static_cast<int>(node_ids_.size());
    node_ids_.push_back(node.id);
  }
  node_cores_.resize(node_ids_.size());
  node_tallies_.resize(node_ids_.size());
  node_capacity_.assign(node_ids_.size(), 0);
  node_whole_capacity_.assign(node_ids_.size(), 0);

  for (const Core& core : topology.cores()) {
    CoreInfo info;
    info.node_position = position_of_id[core.numa_node];
    info.l3 = core.l3;
    info.cpus = core.cpus.ToVector();
    for (int cpu : info.cpus) core_of_cpu_[cpu] = static_cast<int>(cores_.size());
    info.tally = TallyCore(info);
    AddTally(node_tallies_[info.node_position], info.tally, 1);
    node_capacity_[info.node_position] += info.tally.free;
    if (info.tally.fresh_full) node_whole_capacity_[info.node_position] += smt_width_;
    node_cores_[info.node_position].push_back(static_cast<int>(cores_.size()));
    cores_.push_back(std::move(info));
  }
}

CpuPool::CoreTally CpuPool::TallyCore(const CoreInfo& core) const {
  CoreTally tally;
  bool all_free = true;
  bool single_neighbor = false;
  bool multiple_neighbor = false;
  for (int cpu : core.cpus) {
    int owner = owner_size_[cpu];
    if (owner == kFreeCpu) {
      ++tally.free;
      continue;
    }
    all_free = false;
    if (owner >= 2) multiple_neighbor = true;
    if (owner == 1) single_neighbor = true;
  }
  tally.fresh = all_free && tally.free > 0;
  tally.fresh_full = tally.fresh && tally.free == smt_width_;
  if (multiple_neighbor) {
    tally.neighbor = Neighbor::kMultiple;
  } else if (single_neighbor) {
    tally.neighbor = Neighbor::kSingle;
  }
  return tally;
}

void CpuPool::AddTally(NodeTally& node, const CoreTally& core, int sign) {
  node.free += sign * core.free;
  if (core.fresh) {
    node.fresh_cores += sign;
    if (core.fresh_full) node.fresh_full_cores += sign;
  } else {
    node.neighbor_free[static_cast<int>(core.neighbor)] += sign * core.free;
  }
}

void CpuPool::Retally(int core) {
  CoreInfo& info = cores_[core];
  NodeTally& node = node_tallies_[info.node_position];
  AddTally(node, info.tally, -1);
  info.tally = TallyCore(info);
  AddTally(node, info.tally, 1);
}

void CpuPool::Take(const CpuSet& cpus, int container_size) {
  std::vector<int> touched;
  CpuSet claimed;
  cpus.ForEach([&](int cpu) {
    if (cpu >= static_cast<int>(owner_size_.size()) || owner_size_[cpu] != kFreeCpu) return;
    owner_size_[cpu] = container_size;
    claimed.Add(cpu);
    touched.push_back(core_of_cpu_[cpu]);
  });
  free_ -= claimed;
  taken_ |= claimed;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (int core : touched) Retally(core);
}

void CpuPool::Release(const CpuSet& cpus) {
  std::vector<int> touched;
  CpuSet released;
  cpus.ForEach([&](int cpu) {
    if (cpu >= static_cast<int>(owner_size_.size()) || owner_size_[cpu] <= kFreeCpu) return;
    owner_size_[cpu] = kFreeCpu;
    released.Add(cpu);
    touched.push_back(core_of_cpu_[cpu]);
  });
  free_ |= released;
  taken_ -= released;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (int core : touched) Retally(core);
}

int CpuPool::LargestNodeCapacity(bool whole_cores) const {
  const std::vector<int>& capacity = whole_cores ? node_whole_capacity_ : node_capacity_;
  return capacity.empty() ? 0 : *std::max_element(capacity.begin(), capacity.end());
}

int CpuPool::Room(const NodeTally& tally, bool whole_cores) const {
  return whole_cores ? tally.fresh_full_cores * smt_width_ : tally.free;
}

// Mirrors PickFromCores on counts alone, taking every fresh core as smt_width_ wide.
CpuPool::Cost CpuPool::EstimateCost(const NodeTally& tally, int count, bool whole_cores) const {
  Cost cost;
  if (whole_cores) return cost;
  int whole_taken = std::min(tally.fresh_cores, count / smt_width_);
  int remaining = count - whole_taken * smt_width_;
  int fresh_left = tally.fresh_cores - whole_taken;
  bool shares = false;
  for (Step step : FillOrder(count)) {
    if (remaining == 0) break;
    int available = 0;
    switch (step) {
      case Step::kNoNeighbor:
        available = tally.neighbor_free[static_cast<int>(Neighbor::kNone)];
        break;
      case Step::kSplitFreshCore:
        available = fresh_left * smt_width_;
        break;
      case Step::kSingleNeighbor:
        available = tally.neighbor_free[static_cast<int>(Neighbor::kSingle)];
        break;
      case Step::kMultipleNeighbor:
        available = tally.neighbor_free[static_cast<int>(Neighbor::kMultiple)];
        break;
    }
    int taken = std::min(remaining, available);
    remaining -= taken;
    if (taken == 0) continue;
    if (step == Step::kSplitFreshCore && taken % smt_width_ != 0) cost.splits = 1;
    if (step == Step::kSingleNeighbor && count >= 2) shares = true;
    if (step == Step::kMultipleNeighbor) {
      cost.sharing += taken;  // Each such sibling's holder comes to share a core.
      if (count >= 2) shares = true;
    }
  }
  if (shares) ++cost.sharing;
  return cost;
}

}  // namespace numapin
