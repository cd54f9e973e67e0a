// CpuPool's choice of CPUs for one request: the NUMA node (preferred, else best fit, else the
// fewest and closest nodes), then the L3 cache within it, then whole cores and single CPUs.
#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/cpu_picker.h"

namespace numapin {
namespace {

std::string RoomWord(bool whole_cores) {
  return whole_cores ? "CPUs on whole free cores" : "free CPUs";
}

}  // namespace

absl::StatusOr<CpuSet> CpuPool::Choose(const CpuRequest& request) const {
  const int count = request.count;
  if (count <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid CPU count ", count));
  }
  if (request.whole_cores && count % smt_width_ != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("requested ", count, " CPUs, not a multiple of the SMT width ", smt_width_,
                     "; full-pcpus-only gives whole cores only"));
  }
  const Fit fit{request.whole_cores, request.spare_unshared && count >= 2};

  if (std::optional<CpuSet> cpus = ChooseNearlyFull(request, fit)) return *cpus;
  if (std::optional<int> node = ChooseNode(request, fit)) {
    return PickOnNode(*node, count, fit);
  }
  if (std::optional<CpuSet> cpus = ChooseWithinSharingBudget(request, fit)) return *cpus;
  if (request.strict || !request.spill) return Shortage(request, fit);

  absl::StatusOr<std::vector<int>> nodes = ChooseSpill(request, fit);
  if (!nodes.ok()) return nodes.status();
  CpuSet chosen;
  int remaining = count;
  for (int position : *nodes) {
    int take = std::min(remaining, Room(node_tallies_[position], fit));
    chosen |= PickOnNode(position, take, fit);
    remaining -= take;
  }
  return chosen;
}

// Places a request that no node has room for without spared SMT siblings on the node where taking
// them costs least, when the containers that would come to share a core fit in the sharing
// budget. Returns nullopt otherwise.
std::optional<CpuSet> CpuPool::ChooseWithinSharingBudget(const CpuRequest& request,
                                                         const Fit& fit) const {
  if (!fit.spare_unshared || request.sharing_budget_percent <= 0) return std::nullopt;
  const Fit unspared{fit.whole_cores, false};
  std::optional<int> node = ChooseNode(request, unspared);
  if (!node) return std::nullopt;

  const int allowance = SharingAllowance(request.sharing_budget_percent, request.count);
  Cost cost = EstimateCost(node_tallies_[*node], request.count, unspared);
  if (cost.sharing > allowance) return std::nullopt;
  return PickWithinAllowance(*node, request.count, unspared, NodeOrder::kFewestSharing, allowance);
}

// Near a full pool, fresh cores are what the next large request needs, while the free half of a
// split core only serves a request that accepts sharing that core. So once the pool is nearly
// full, a request goes to a node where it splits no fresh core and takes half cores there,
// spared SMT siblings included. The containers that come to share a core must fit in the sharing
// budget. Within the node the usual fill order applies. Returns nullopt when the pool is
// not nearly full or no node qualifies, and the usual choice applies.
std::optional<CpuSet> CpuPool::ChooseNearlyFull(const CpuRequest& request, const Fit& fit) const {
  if (fit.whole_cores || request.nearly_full_percent <= 0) return std::nullopt;
  if (request.sharing_budget_percent <= 0) return std::nullopt;
  if (!NearlyFull(request.nearly_full_percent)) return std::nullopt;
  const Fit unspared{false, false};
  const int allowance = SharingAllowance(request.sharing_budget_percent, request.count);
  std::optional<int> node = ChooseNode(request, unspared, NodeOrder::kFewestSplits, allowance);
  if (!node) return std::nullopt;
  return PickWithinAllowance(*node, request.count, unspared, NodeOrder::kFewestSplits, allowance);
}

// Picks the CPUs on a node that ChooseNode chose within `allowance`, and checks them: the node's
// estimate may not hold within the one L3 cache that the CPUs come from, where fewer cheap CPUs
// are free. Returns nullopt when no L3 cache qualifies or the CPUs exceed the allowance.
std::optional<CpuSet> CpuPool::PickWithinAllowance(int position, int count, const Fit& fit,
                                                   NodeOrder order, int allowance) const {
  CpuSet cpus = PickOnNode(position, count, fit, order, allowance);
  if (cpus.Size() != count) return std::nullopt;
  if (SharingCaused(cpus, count) > allowance) return std::nullopt;
  return cpus;
}

// Builds the error for a request that no single node has room for, with the counts an operator
// needs to see why.
absl::Status CpuPool::Shortage(const CpuRequest& request, const Fit& fit) const {
  const int count = request.count;
  const std::string room_word = RoomWord(fit.whole_cores);
  auto spared = [&](const NodeTally& tally) {
    return fit.spare_unshared ? tally.neighbor_free[static_cast<int>(Neighbor::kMultiple)] : 0;
  };
  auto spared_note = [&](int cpus) {
    if (cpus == 0) return std::string();
    std::string note = absl::StrCat("; ", cpus,
                                    " more are spared as SMT siblings of containers of 2 or more "
                                    "CPUs that share no core");
    if (request.sharing_budget_percent > 0) {
      absl::StrAppend(&note, ", and the sharing budget (", request.sharing_budget_percent,
                      "% of the containers of 2 or more CPUs) lets ",
                      SharingAllowance(request.sharing_budget_percent, count),
                      " more of them share a core");
    }
    return note;
  };

  if (request.strict && request.preferred_node) {
    NodeTally tally;
    for (size_t i = 0; i < node_ids_.size(); ++i) {
      if (node_ids_[i] == *request.preferred_node) tally = node_tallies_[i];
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "not enough ", room_word, " on NUMA node ", *request.preferred_node, ": requested ", count,
        ", free ", Room(tally, fit), spared_note(spared(tally))));
  }

  int max_room = -1;
  int max_room_node = -1;
  int total_spared = 0;
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    int room = Room(node_tallies_[i], fit);
    total_spared += spared(node_tallies_[i]);
    if (room > max_room) {
      max_room = room;
      max_room_node = node_ids_[i];
    }
  }
  std::string shortage =
      absl::StrCat("no NUMA node has ", count, " ", room_word, " (max: ", max_room, " on node ",
                   max_room_node, spared_note(total_spared), ")");
  if (request.strict) {
    return absl::ResourceExhaustedError(
        absl::StrCat(shortage, ", and numa-policy strict keeps a container on one node"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      shortage, "; a request that one NUMA node can hold is not spread over several nodes"));
}

// Returns the preferred node when it has room. Otherwise, unless the policy is strict with a
// preferred node, returns the node with room that costs least (no container starts to share a
// core, no fresh core is split; `order` sets which of the two counts first). Ties go to the node
// that loses the fewest CPUs of a hole of half a node (with keep_holes), then to the best fit
// (fewest free CPUs left), then to the lowest id. Best fit counts spared SMT siblings as free,
// because a 1-CPU request may still take them even though this request may not.
std::optional<int> CpuPool::ChooseNode(const CpuRequest& request, const Fit& fit, NodeOrder order,
                                       std::optional<int> max_sharing) const {
  const int count = request.count;
  auto within_sharing = [&](const NodeTally& tally) {
    return !max_sharing || EstimateCost(tally, count, fit).sharing <= *max_sharing;
  };
  if (request.preferred_node) {
    for (size_t i = 0; i < node_ids_.size(); ++i) {
      if (node_ids_[i] != *request.preferred_node) continue;
      const NodeTally& tally = node_tallies_[i];
      if (Room(tally, fit) < count) break;
      // A preferred node over max_sharing gets no other node instead: the caller's own choice
      // keeps the preference.
      if (!within_sharing(tally)) return std::nullopt;
      return static_cast<int>(i);
    }
    if (request.strict) return std::nullopt;
  }

  const int hole = request.keep_holes ? LargestNodeCapacity(fit.whole_cores) / 2 : 0;
  std::optional<int> best;
  std::tuple<int, int, int, int, int> best_key;
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    const NodeTally& tally = node_tallies_[i];
    int room = Room(tally, fit);
    if (room < count) continue;
    Cost cost = EstimateCost(tally, count, fit);
    if (max_sharing && cost.sharing > *max_sharing) continue;
    int free_left = (fit.whole_cores ? room : tally.free) - count;
    std::tuple<int, int, int, int, int> key{cost.sharing, cost.splits, HoleLoss(room, count, hole),
                                            free_left, node_ids_[i]};
    if (order == NodeOrder::kFewestSplits) std::swap(std::get<0>(key), std::get<1>(key));
    if (!best || key < best_key) {
      best = static_cast<int>(i);
      best_key = key;
    }
  }
  return best;
}

// Chooses several nodes. Each possible first node (only the preferred one, when it has room) gets
// the closest other nodes by distance until the request fits. The set with the fewest nodes
// wins, then the smallest total distance, then the most room on the first node, then the lowest
// first id. This costs O(nodes^2 log nodes), never a search over subsets.
absl::StatusOr<std::vector<int>> CpuPool::ChooseSpill(const CpuRequest& request,
                                                      const Fit& fit) const {
  const int count = request.count;
  std::vector<int> with_room;
  int total = 0;
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    int room = Room(node_tallies_[i], fit);
    if (room > 0) with_room.push_back(static_cast<int>(i));
    total += room;
  }
  if (total < count) {
    return absl::ResourceExhaustedError(absl::StrCat("not enough ", RoomWord(fit.whole_cores),
                                                     ": requested ", count, ", free ", total,
                                                     " over all NUMA nodes"));
  }

  std::vector<int> firsts;
  for (int position : with_room) {
    if (request.preferred_node && node_ids_[position] == *request.preferred_node) {
      firsts = {position};
      break;
    }
    firsts.push_back(position);
  }

  std::vector<int> best;
  std::tuple<int, int, int, int> best_key;
  for (int first : firsts) {
    auto room = [&](int position) { return Room(node_tallies_[position], fit); };
    auto distance = [&](int position) {
      return topology_->Distance(node_ids_[first], node_ids_[position]);
    };
    std::vector<int> others;
    for (int position : with_room) {
      if (position != first) others.push_back(position);
    }
    std::sort(others.begin(), others.end(), [&](int a, int b) {
      return std::make_tuple(distance(a), -room(a), node_ids_[a]) <
             std::make_tuple(distance(b), -room(b), node_ids_[b]);
    });

    std::vector<int> set = {first};
    int covered = room(first);
    int total_distance = 0;
    for (int position : others) {
      if (covered >= count) break;
      set.push_back(position);
      covered += room(position);
      total_distance += distance(position);
    }
    std::tuple<int, int, int, int> key{static_cast<int>(set.size()), total_distance, -room(first),
                                       node_ids_[first]};
    if (best.empty() || key < best_key) {
      best = std::move(set);
      best_key = key;
    }
  }
  return best;
}

// Returns 0 when the node's room stays at `hole` or more, so that it can still take any request
// up to that size. Otherwise returns the CPUs of the hole that the request uses up. A small
// request thus goes to a node with CPUs to spare, or else to a node already too full for a
// large request.
int CpuPool::HoleLoss(int room, int count, int hole) {
  return std::min(room, hole) - std::min(room - count, hole);
}

CpuSet CpuPool::PickOnNode(int position, int count, const Fit& fit, NodeOrder order,
                           std::optional<int> max_sharing) const {
  return PickFromCores(OrderCores(position, count, fit, order, max_sharing), count, fit);
}

// Returns the node's cores to pick from: those of the one L3 cache that has room for the request
// at least cost and best fit. When no single L3 has room, returns every core, roomiest L3 first.
// Returns no core when some L3 has room but each one with room is over `max_sharing`, because
// spreading over several L3 caches is no way to save the sharing budget.
std::vector<int> CpuPool::OrderCores(int position, int count, const Fit& fit, NodeOrder order,
                                     std::optional<int> max_sharing) const {
  const std::vector<int>& cores = node_cores_[position];
  std::vector<std::pair<int, NodeTally>> groups;  // (L3, tallies of its cores), by L3.
  for (int core : cores) {
    int l3 = cores_[core].l3;
    auto it =
        std::find_if(groups.begin(), groups.end(),
                     [&](const std::pair<int, NodeTally>& group) { return group.first == l3; });
    if (it == groups.end()) {
      groups.push_back({l3, NodeTally()});
      it = groups.end() - 1;
    }
    AddTally(it->second, cores_[core].tally, 1);
  }
  if (groups.size() <= 1) return cores;

  std::optional<int> best_l3;
  std::tuple<int, int, int, int> best_key;
  bool over_max_sharing = false;
  for (const auto& [l3, tally] : groups) {
    int room = Room(tally, fit);
    if (room < count) continue;
    Cost cost = EstimateCost(tally, count, fit);
    if (max_sharing && cost.sharing > *max_sharing) {
      over_max_sharing = true;
      continue;
    }
    std::tuple<int, int, int, int> key{cost.sharing, cost.splits, room - count, l3};
    if (order == NodeOrder::kFewestSplits) std::swap(std::get<0>(key), std::get<1>(key));
    if (!best_l3 || key < best_key) {
      best_l3 = l3;
      best_key = key;
    }
  }
  if (best_l3) {
    std::vector<int> in_l3;
    for (int core : cores) {
      if (cores_[core].l3 == *best_l3) in_l3.push_back(core);
    }
    return in_l3;
  }
  if (over_max_sharing) return {};

  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) {
    return Room(a.second, fit) > Room(b.second, fit);
  });
  std::vector<int> ordered;
  for (const auto& group : groups) {
    for (int core : cores) {
      if (cores_[core].l3 == group.first) ordered.push_back(core);
    }
  }
  return ordered;
}

// Whole fresh cores first, then the rest in FillOrder, each step in the order of `cores`.
CpuSet CpuPool::PickFromCores(const std::vector<int>& cores, int count, const Fit& fit) const {
  CpuSet chosen;
  int remaining = count;
  std::vector<char> used(cores.size(), 0);
  auto take_free = [&](size_t i) {
    for (int cpu : cores_[cores[i]].cpus) {
      if (remaining == 0) return;
      if (owner_[cpu] == kFreeCpu && !chosen.Contains(cpu)) {
        chosen.Add(cpu);
        --remaining;
      }
    }
    used[i] = 1;
  };

  for (size_t i = 0; i < cores.size() && remaining > 0; ++i) {
    const CoreTally& tally = cores_[cores[i]].tally;
    if (!tally.fresh || tally.free > remaining) continue;
    if (fit.whole_cores && !tally.fresh_full) continue;
    take_free(i);
  }
  if (fit.whole_cores) return chosen;

  for (Step step : FillOrder(count)) {
    for (size_t i = 0; i < cores.size() && remaining > 0; ++i) {
      const CoreTally& tally = cores_[cores[i]].tally;
      if (used[i] || tally.free == 0) continue;
      bool match = step == Step::kSplitFreshCore
                       ? tally.fresh
                       : !tally.fresh && tally.neighbor == NeighborOf(step);
      if (step == Step::kMultiple && fit.spare_unshared) match = false;
      if (match) take_free(i);
    }
  }
  return chosen;
}

CpuSet CpuPool::ChooseWithin(const CpuSet& candidates, int count, bool whole_cores) const {
  CpuSet chosen;
  int remaining = count;
  for (const CoreInfo& core : cores_) {
    if (remaining == 0) break;
    int in_candidates = 0;
    for (int cpu : core.cpus) in_candidates += candidates.Contains(cpu) ? 1 : 0;
    if (in_candidates == 0 || in_candidates != static_cast<int>(core.cpus.size())) continue;
    if (in_candidates > remaining) continue;
    for (int cpu : core.cpus) chosen.Add(cpu);
    remaining -= in_candidates;
  }
  if (whole_cores) return chosen;
  candidates.ForEach([&](int cpu) {
    if (remaining > 0 && !chosen.Contains(cpu)) {
      chosen.Add(cpu);
      --remaining;
    }
  });
  return chosen;
}

}  // namespace numapin
