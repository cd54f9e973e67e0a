// CpuPool: the CPUs free for exclusive use, tallied per core and per NUMA node as containers take
// and release them, and the choice of CPUs for one container's request. Pure code, used by
// NodeAllocator (allocator.cc), which owns pods, containers and the shared pool.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/cpuset.h"
#include "policy/topology.h"

namespace numapin {

struct CpuRequest {
  int count = 0;
  std::optional<int> preferred_node;  // NUMA node OS index.
  bool strict = false;                // One NUMA node only: the preferred one, or the best fit.
  bool whole_cores = false;           // Only cores whose every SMT sibling is free.
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

  // Marks free CPUs as exclusive to a container that holds `container_size` CPUs; the size steers
  // where later requests go (two 1-CPU containers may share a core at no cost to either).
  void Take(const CpuSet& cpus, int container_size);
  void Release(const CpuSet& cpus);  // CPUs that are not taken are ignored.

  const CpuSet& free_cpus() const { return free_; }
  const CpuSet& taken_cpus() const { return taken_; }

  // The most CPUs one NUMA node could ever give a request (all its CPUs free).
  int LargestNodeCapacity(bool whole_cores) const;

 private:
  static constexpr int kFreeCpu = 0;
  static constexpr int kUnavailableCpu = -1;

  // A free CPU of a core that is not wholly free, classed by who holds its SMT siblings.
  enum class Neighbor : uint8_t {
    kNone,      // Siblings reserved, offline or free: taking it makes no container share a core.
    kSingle,    // A sibling is held by a 1-CPU container.
    kMultiple,  // A sibling is held by a container of 2 CPUs or more.
  };

  // One step of filling the CPUs that whole free cores do not cover.
  enum class Step { kNoNeighbor, kSplitFreshCore, kSingleNeighbor, kMultipleNeighbor };
  static const std::vector<Step>& FillOrder(int count);

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
    int neighbor_free[3] = {0, 0, 0};  // Free CPUs of non-fresh cores, indexed by Neighbor.
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
  Cost EstimateCost(const NodeTally& tally, int count, bool whole_cores) const;
  int Room(const NodeTally& tally, bool whole_cores) const;

  std::optional<int> ChooseNode(const CpuRequest& request) const;
  absl::StatusOr<std::vector<int>> ChooseSpill(const CpuRequest& request) const;
  CpuSet PickOnNode(int position, int count, bool whole_cores) const;
  std::vector<int> OrderCores(int position, int count, bool whole_cores) const;
  CpuSet PickFromCores(const std::vector<int>& cores, int count, bool whole_cores) const;

  const Topology* topology_;
  int smt_width_ = 1;
  std::vector<int>
      owner_size_;  // Per CPU: 0 free, -1 reserved or not assignable, else holder size.
  std::vector<int> core_of_cpu_;
  std::vector<CoreInfo> cores_;
  std::vector<int> node_ids_;                 // By node position, as Topology::numa_nodes() lists.
  std::vector<std::vector<int>> node_cores_;  // By node position: core indexes, ascending.
  std::vector<NodeTally> node_tallies_;
  std::vector<int> node_capacity_;
  std::vector<int> node_whole_capacity_;
  CpuSet free_;
  CpuSet taken_;
};

}  // namespace numapin
