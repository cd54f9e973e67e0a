// CpuPool: the CPUs free for exclusive use, tallied per core and per NUMA node as containers take
// and release them, and the choice of CPUs for one container's request. Pure code, used by
// NodeAllocator (allocator.cc), which owns pods, containers and the shared pool.
#pragma once

#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "policy/cpuset.h"
#include "policy/topology.h"

namespace numapin {

struct CpuRequest {
  int count = 0;
  std::optional<int> preferred_node;  // NUMA node OS index.
  bool strict = false;                // One NUMA node only: the preferred one, or the best fit.
  bool whole_cores = false;           // Only cores whose every SMT sibling is free.
  // A request of 2 CPUs or more takes no free SMT sibling of a container of 2 CPUs or more that
  // shares no core yet.
  bool spare_unshared = false;
  // With spare_unshared, the spared siblings may still be taken when no node has room without
  // them, if afterwards at most this percentage of the live containers of 2 CPUs or more share a
  // core.
  int sharing_budget_percent = 0;
  // Among nodes of equal cost, prefer the one whose room below half a node shrinks least.
  bool keep_holes = false;
  // The pool counts as nearly full when the free CPUs that a request of 2 CPUs or more could take
  // without sharing a core, summed over all NUMA nodes, are at most this percentage of its CPUs.
  // A request then goes where it splits no fresh core, even if containers come to share a core
  // there, while they fit in the sharing budget. 0 turns this off, and so does a budget of 0.
  int nearly_full_percent = 0;
  // Whether the request may be spread over several NUMA nodes when no single node has room.
  bool spill = false;
};

class CpuPool {
 public:
  // Every CPU of `topology` that is assignable and not in `reserved` starts free.
  CpuPool(const Topology& topology, const CpuSet& reserved);

  // Chooses request.count free CPUs, or returns why they cannot be found. Changes nothing.
  absl::StatusOr<CpuSet> Choose(const CpuRequest& request) const;

  // Chooses up to `count` CPUs of `candidates`, whole cores of it first, lowest core first.
  CpuSet ChooseWithin(const CpuSet& candidates, int count, bool whole_cores) const;

  // Marks free CPUs as exclusive to container `owner` (a positive id, unique for the pool's life)
  // of `container_size` CPUs. The size steers later requests: two 1-CPU containers may share a
  // core at no cost to either, while a container of 2 CPUs or more suffers from an SMT sibling.
  void Take(const CpuSet& cpus, int owner, int container_size);
  void Release(const CpuSet& cpus);  // CPUs that are not taken are ignored.

  const CpuSet& free_cpus() const { return free_; }
  const CpuSet& taken_cpus() const { return taken_; }

  // The most CPUs one NUMA node could ever give a request (all its CPUs free).
  int LargestNodeCapacity(bool whole_cores) const;

 private:
  static constexpr int kFreeCpu = 0;
  static constexpr int kUnavailableCpu = -1;

  // Class of a free CPU on a core that is not wholly free, by the container on its SMT siblings,
  // ordered from the least to the most harm that taking the CPU does to that container.
  enum class Neighbor : uint8_t {
    kNone,      // Siblings reserved, offline or free: taking it makes no container share a core.
    kSingle,    // A sibling is held by a 1-CPU container, which sharing does not harm.
    kSharing,   // A sibling is held by a container of 2 CPUs or more that already shares a core.
    kMultiple,  // A sibling is held by a container of 2 CPUs or more that shares no core yet.
  };
  static constexpr int kNeighborClasses = 4;

  struct Owner {
    int size = 0;         // CPUs of the container.
    bool shared = false;  // It has had a core in common with another container.
    CpuSet cpus;          // Its CPUs still taken.
  };

  // One step of filling the CPUs that whole free cores do not cover.
  enum class Step { kSplitFreshCore, kNoNeighbor, kSingle, kSharing, kMultiple };
  static const std::vector<Step>& FillOrder(int count);
  static Neighbor NeighborOf(Step step);  // The class of free CPUs a step takes (not a split).

  // One core's contribution to its node's tallies.
  struct CoreTally {
    int free = 0;
    bool fresh = false;       // Every CPU of the core is free.
    bool fresh_full = false;  // Fresh and as wide as the topology's SMT width.
    Neighbor neighbor = Neighbor::kNone;
  };

  struct NodeTally {
    int free = 0;
    int fresh_cores = 0;
    int fresh_full_cores = 0;
    int neighbor_free[kNeighborClasses] = {};  // Free CPUs of non-fresh cores, by Neighbor.
  };

  // The cost of meeting a request from one node's (or one L3's) tallies.
  struct Cost {
    int sharing = 0;  // Containers of 2 CPUs or more that would come to share a core.
    int splits = 0;   // Fresh cores taken in part.
  };

  struct CoreInfo {
    int node_position = 0;
    int l3 = -1;
    std::vector<int> cpus;
    CoreTally tally;
  };

  CoreTally TallyCore(const CoreInfo& core) const;
  void Retally(int core);
  static void AddTally(NodeTally& node, const CoreTally& core, int sign);
  // The CPUs a request may take: from whole cores only, and sparing unshared containers' cores.
  struct Fit {
    bool whole_cores = false;
    bool spare_unshared = false;
  };

  Cost EstimateCost(const NodeTally& tally, int count, const Fit& fit) const;
  // CPUs that taking `count` of a node's `room` removes from a hole of `hole` CPUs.
  static int HoleLoss(int room, int count, int hole);
  int Room(const NodeTally& tally, const Fit& fit) const;

  // The order in which ChooseNode ranks nodes with room: by the containers that would come to
  // share a core first (the default), or by the fresh cores split first (near a full pool).
  enum class NodeOrder { kFewestSharing, kFewestSplits };
  // Nodes whose cost shares more than `max_sharing` containers are skipped.
  std::optional<int> ChooseNode(const CpuRequest& request, const Fit& fit,
                                NodeOrder order = NodeOrder::kFewestSharing,
                                std::optional<int> max_sharing = std::nullopt) const;
  std::optional<CpuSet> ChooseWithinSharingBudget(const CpuRequest& request, const Fit& fit) const;
  std::optional<CpuSet> ChooseNearlyFull(const CpuRequest& request, const Fit& fit) const;
  std::optional<CpuSet> PickWithinAllowance(int position, int count, const Fit& fit,
                                            NodeOrder order, int allowance) const;
  bool NearlyFull(int percent) const;
  // How many more containers of 2 CPUs or more may come to share a core when a container of
  // `count` CPUs is placed (counted among them when it has 2 CPUs or more).
  int SharingAllowance(int budget_percent, int count) const;
  absl::Status Shortage(const CpuRequest& request, const Fit& fit) const;
  absl::StatusOr<std::vector<int>> ChooseSpill(const CpuRequest& request, const Fit& fit) const;
  // `order` and `max_sharing` steer the choice of an L3 cache as they steer ChooseNode's.
  CpuSet PickOnNode(int position, int count, const Fit& fit,
                    NodeOrder order = NodeOrder::kFewestSharing,
                    std::optional<int> max_sharing = std::nullopt) const;
  std::vector<int> OrderCores(int position, int count, const Fit& fit, NodeOrder order,
                              std::optional<int> max_sharing) const;
  // Counts the containers of 2 CPUs or more that would come to share a core if a container of
  // `count` CPUs took `cpus`. They are the holders of the SMT siblings that share no core yet,
  // and the container itself when it has 2 CPUs or more and a sibling of its CPUs is taken.
  int SharingCaused(const CpuSet& cpus, int count) const;
  CpuSet PickFromCores(const std::vector<int>& cores, int count, const Fit& fit) const;

  const Topology* topology_;
  int smt_width_ = 1;
  void MarkSharing(const std::vector<int>& cores);

  std::vector<int> owner_;  // Per CPU: kFreeCpu, kUnavailableCpu or the holding container's id.
  absl::flat_hash_map<int, Owner> owners_;  // Looked up only, never iterated.
  std::vector<int> core_of_cpu_;
  std::vector<CoreInfo> cores_;
  std::vector<int> node_ids_;                 // By node position, as Topology::numa_nodes() lists.
  std::vector<std::vector<int>> node_cores_;  // By node position: core indexes, ascending.
  std::vector<NodeTally> node_tallies_;
  std::vector<int> node_capacity_;
  int pool_capacity_ = 0;  // Sum of node_capacity_.
  std::vector<int> node_whole_capacity_;
  CpuSet free_;
  CpuSet taken_;
  int multi_cpu_owners_ = 0;          // Live containers of 2 CPUs or more.
  int sharing_multi_cpu_owners_ = 0;  // Those of them that have shared a core.
};

}  // namespace numapin
