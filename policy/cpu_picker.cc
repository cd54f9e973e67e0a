// CpuPool: incremental per-core and per-node tallies of free CPUs, and the rules that choose a
// NUMA node, an L3 cache and cores for a request. Every loop runs over vectors in index order, so
// the same state and request always give the same CPUs.
#include "policy/cpu_picker.h"

#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace numapin {
// A 1-CPU container first pairs with another 1-CPU container, which harms neither, and splits a
// fresh core only when no harmless half is left. A larger container covers its odd CPU by
// splitting a fresh core, so that it shares no core. Failing that, it shares with a container
// that already shares one, so that as few containers as possible ever share a core.
const std::vector<CpuPool::Step>& CpuPool::FillOrder(int count) {
  static const std::vector<Step> kSingleCpu = {Step::kSingle, Step::kNoNeighbor, Step::kSharing,
                                               Step::kSplitFreshCore, Step::kMultiple};
  static const std::vector<Step> kSeveralCpus = {Step::kNoNeighbor, Step::kSplitFreshCore,
                                                 Step::kSharing, Step::kSingle, Step::kMultiple};
  return count == 1 ? kSingleCpu : kSeveralCpus;
}

CpuPool::Neighbor CpuPool::NeighborOf(Step step) {
  switch (step) {
    case Step::kSingle:
      return Neighbor::kSingle;
    case Step::kSharing:
      return Neighbor::kSharing;
    case Step::kMultiple:
      return Neighbor::kMultiple;
    default:
      return Neighbor::kNone;
  }
}

CpuPool::CpuPool(const Topology& topology, const CpuSet& reserved)
    : topology_(&topology), smt_width_(topology.SmtWidth()) {
  int max_cpu = -1;
  for (const Core& core : topology.cores()) {
    core.cpus.ForEach([&](int cpu) { max_cpu = std::max(max_cpu, cpu); });
  }
  owner_.assign(max_cpu + 1, kUnavailableCpu);
  core_of_cpu_.assign(max_cpu + 1, -1);
  topology.assignable_cpus().ForEach([&](int cpu) {
    if (cpu <= max_cpu && !reserved.Contains(cpu)) {
      owner_[cpu] = kFreeCpu;
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
    pool_capacity_ += info.tally.free;
    if (info.tally.fresh_full) node_whole_capacity_[info.node_position] += smt_width_;
    node_cores_[info.node_position].push_back(static_cast<int>(cores_.size()));
    cores_.push_back(std::move(info));
  }
}

CpuPool::CoreTally CpuPool::TallyCore(const CoreInfo& core) const {
  CoreTally tally;
  bool all_free = true;
  for (int cpu : core.cpus) {
    int owner = owner_[cpu];
    if (owner == kFreeCpu) {
      ++tally.free;
      continue;
    }
    all_free = false;
    if (owner == kUnavailableCpu) continue;
    const Owner& holder = owners_.at(owner);
    Neighbor neighbor = holder.size == 1 ? Neighbor::kSingle
                        : holder.shared  ? Neighbor::kSharing
                                         : Neighbor::kMultiple;
    tally.neighbor = std::max(tally.neighbor, neighbor);
  }
  tally.fresh = all_free && tally.free > 0;
  tally.fresh_full = tally.fresh && tally.free == smt_width_;
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

void CpuPool::Take(const CpuSet& cpus, int owner, int container_size) {
  std::vector<int> touched;
  CpuSet claimed;
  cpus.ForEach([&](int cpu) {
    if (cpu >= static_cast<int>(owner_.size()) || owner_[cpu] != kFreeCpu) return;
    owner_[cpu] = owner;
    claimed.Add(cpu);
    touched.push_back(core_of_cpu_[cpu]);
  });
  if (claimed.Empty()) return;
  Owner& holder = owners_[owner];
  if (holder.size == 0 && container_size >= 2) ++multi_cpu_owners_;
  holder.size = container_size;
  holder.cpus |= claimed;
  free_ -= claimed;
  taken_ |= claimed;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  MarkSharing(touched);
  for (int core : touched) Retally(core);
}

// Flags every container of 2 CPUs or more that now has a core in common with another container,
// and re-tallies the cores of those newly flagged, whose free siblings change class.
void CpuPool::MarkSharing(const std::vector<int>& cores) {
  std::vector<int> flagged;
  for (int core : cores) {
    std::vector<int> holders;
    for (int cpu : cores_[core].cpus) {
      if (owner_[cpu] > 0 &&
          std::find(holders.begin(), holders.end(), owner_[cpu]) == holders.end()) {
        holders.push_back(owner_[cpu]);
      }
    }
    if (holders.size() < 2) continue;
    for (int id : holders) {
      Owner& holder = owners_.at(id);
      if (holder.size >= 2 && !holder.shared) {
        holder.shared = true;
        ++sharing_multi_cpu_owners_;
        flagged.push_back(id);
      }
    }
  }
  for (int id : flagged) {
    std::vector<int> its_cores;
    owners_.at(id).cpus.ForEach([&](int cpu) { its_cores.push_back(core_of_cpu_[cpu]); });
    std::sort(its_cores.begin(), its_cores.end());
    its_cores.erase(std::unique(its_cores.begin(), its_cores.end()), its_cores.end());
    for (int core : its_cores) Retally(core);
  }
}

void CpuPool::Release(const CpuSet& cpus) {
  std::vector<int> touched;
  CpuSet released;
  cpus.ForEach([&](int cpu) {
    if (cpu >= static_cast<int>(owner_.size()) || owner_[cpu] <= kFreeCpu) return;
    auto holder = owners_.find(owner_[cpu]);
    holder->second.cpus.Remove(cpu);
    if (holder->second.cpus.Empty()) {
      if (holder->second.size >= 2) --multi_cpu_owners_;
      if (holder->second.size >= 2 && holder->second.shared) --sharing_multi_cpu_owners_;
      owners_.erase(holder);
    }
    owner_[cpu] = kFreeCpu;
    released.Add(cpu);
    touched.push_back(core_of_cpu_[cpu]);
  });
  free_ |= released;
  taken_ -= released;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (int core : touched) Retally(core);
}

int CpuPool::SharingAllowance(int budget_percent, int count) const {
  int budget = budget_percent * (multi_cpu_owners_ + (count >= 2 ? 1 : 0)) / 100;
  return std::max(0, budget - sharing_multi_cpu_owners_);
}

int CpuPool::SharingCaused(const CpuSet& cpus, int count) const {
  std::vector<int> newly_sharing;
  bool shares = false;
  cpus.ForEach([&](int cpu) {
    for (int sibling : cores_[core_of_cpu_[cpu]].cpus) {
      const int id = owner_[sibling];
      if (id <= kFreeCpu || cpus.Contains(sibling)) continue;
      shares = true;
      const Owner& holder = owners_.at(id);
      if (holder.size >= 2 && !holder.shared &&
          std::find(newly_sharing.begin(), newly_sharing.end(), id) == newly_sharing.end()) {
        newly_sharing.push_back(id);
      }
    }
  });
  return static_cast<int>(newly_sharing.size()) + (shares && count >= 2 ? 1 : 0);
}

// Counts the free CPUs of fresh cores and those whose siblings are reserved, offline or free: the
// CPUs that a container of 2 CPUs or more can take without sharing a core.
bool CpuPool::NearlyFull(int percent) const {
  int unshared_room = 0;
  for (const NodeTally& tally : node_tallies_) {
    unshared_room += tally.free - tally.neighbor_free[static_cast<int>(Neighbor::kSingle)] -
                     tally.neighbor_free[static_cast<int>(Neighbor::kSharing)] -
                     tally.neighbor_free[static_cast<int>(Neighbor::kMultiple)];
  }
  return unshared_room * 100 <= percent * pool_capacity_;
}

int CpuPool::LargestNodeCapacity(bool whole_cores) const {
  const std::vector<int>& capacity = whole_cores ? node_whole_capacity_ : node_capacity_;
  return capacity.empty() ? 0 : *std::max_element(capacity.begin(), capacity.end());
}

int CpuPool::Room(const NodeTally& tally, const Fit& fit) const {
  if (fit.whole_cores) return tally.fresh_full_cores * smt_width_;
  int spared = fit.spare_unshared ? tally.neighbor_free[static_cast<int>(Neighbor::kMultiple)] : 0;
  return tally.free - spared;
}

// Mirrors PickFromCores on counts alone, taking every fresh core as smt_width_ wide.
CpuPool::Cost CpuPool::EstimateCost(const NodeTally& tally, int count, const Fit& fit) const {
  Cost cost;
  if (fit.whole_cores) return cost;
  int whole_taken = std::min(tally.fresh_cores, count / smt_width_);
  int remaining = count - whole_taken * smt_width_;
  int fresh_left = tally.fresh_cores - whole_taken;
  bool shares = false;
  for (Step step : FillOrder(count)) {
    if (remaining == 0) break;
    int available = step == Step::kSplitFreshCore
                        ? fresh_left * smt_width_
                        : tally.neighbor_free[static_cast<int>(NeighborOf(step))];
    if (step == Step::kMultiple && fit.spare_unshared) available = 0;
    int taken = std::min(remaining, available);
    remaining -= taken;
    if (taken == 0) continue;
    if (step == Step::kSplitFreshCore && taken % smt_width_ != 0) cost.splits = 1;
    if (step != Step::kSplitFreshCore && step != Step::kNoNeighbor && count >= 2) shares = true;
    if (step == Step::kMultiple) cost.sharing += taken;  // Each sibling's holder starts sharing.
  }
  if (shares) ++cost.sharing;
  return cost;
}

}  // namespace numapin
