// NodeAllocator: which exclusive CPUs each container of a Guaranteed pod gets, and what remains
// as the shared pool. Pure code: a value of Topology plus the pods added and removed, in order.
// Same topology and same event sequence give the same result.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policy/admission.h"
#include "policy/cpu_picker.h"
#include "policy/cpuset.h"
#include "policy/pod.h"
#include "policy/topology.h"

namespace numapin {

// Pod annotations that steer allocation.
inline constexpr char kPreferredNumaNodeAnnotation[] = "PreferredNUMANodeId";
inline constexpr char kNumaPolicyAnnotation[] = "numapin.io/numa-policy";

struct AllocatorOptions {
  CpuSet reserved_cpus;                 // --reserved-cpus: never exclusive.
  bool strict_cpu_reservation = false;  // Keep reserved CPUs out of the shared pool too.
  bool full_pcpus_only = false;         // Only whole free cores, request a multiple of SMT width.
  // Under numa-policy preferred, spread a container over several NUMA nodes whenever no single
  // node has room now. When false (the default), only a request larger than any one node's CPUs
  // is spread. A smaller one runs in the shared pool instead, because a spread assignment lasts
  // for the container's life while the shortage is often brief.
  bool spill_on_shortage = false;
  // Never give a container of 2 CPUs or more the free SMT sibling of another container of 2 CPUs
  // or more that shares no core yet. When nothing else is free, the container runs in the shared
  // pool. The sibling stays in the shared pool, or goes to a 1-CPU container as a last resort.
  bool spare_unshared_cores = true;
  // The max percentage of the live containers of 2 CPUs or more, the new one included and
  // rounded down, that may have shared a core after a placement. Two rules spend it. With
  // spare_unshared_cores, a container of 2 CPUs or more that no NUMA node has room for without
  // spared siblings may still take them, on the node where that costs least. And
  // nearly_full_percent below lets containers share a core near a full node. 0 turns both off.
  // Taking a spared sibling makes at least two containers share, so at 30 it needs 7 such
  // containers live, the new one included, and a node with fewer never shares this way.
  int sharing_budget_percent = 30;
  // The node counts as nearly full once the free CPUs that containers of 2 CPUs or more can take
  // without sharing a core are at most this percentage of the CPUs that can be exclusive. Spared
  // siblings and the free halves of split cores do not count as such CPUs. A container then goes
  // to the NUMA node where it splits no fresh core, even if it takes the free half of a split
  // core or a spared sibling there. The containers that come to share a core must fit in the
  // sharing budget. Fresh cores stay whole for the large requests that a full node would reject
  // otherwise. 0 turns this off.
  int nearly_full_percent = 16;
  // Among the NUMA nodes with room at equal cost, prefer the one where the request takes the
  // fewest CPUs out of a hole of half a node (half the largest node's CPUs), then the best fit.
  // It helps when no request exceeds half a node. Off by default because it breaks up wholly free
  // nodes, so requests larger than half a node are rejected more often.
  bool keep_node_holes = false;
};

// Exclusive CPUs of one container.
struct Assignment {
  CpuSet cpus;
  CpuSet numa_nodes;  // Node OS indexes of `cpus`.
  // cpuset.mems: the nodes of `cpus` that have memory, or all nodes of `cpus` when none of them
  // reports memory (so that it is never empty).
  CpuSet mems;
};

// The outcome for one container of a pod.
struct ContainerDecision {
  std::string container;
  bool init = false;
  bool exclusive = false;
  Assignment assignment;  // Set when exclusive.
  // The reason the container is not exclusive (OK for a container that never requested it, as the
  // containers of a Burstable pod), or a warning such as a garbage annotation the pod fell back
  // from. Names the pod, the field, the value and what was expected.
  absl::Status error;
};

// One container's assignment as the checkpoint stores it.
struct AssignmentRecord {
  std::string pod_uid;
  std::string pod_key;  // "namespace/name", for logs and metrics.
  std::string container;
  bool init = false;
  bool sidecar = false;  // An init container that keeps running (restartPolicy: Always).
  Assignment assignment;
};

class NodeAllocator {
 public:
  // Rejects options that cannot hold on this topology, such as reserved CPUs that are not in it.
  static absl::StatusOr<NodeAllocator> Create(const Topology& topology, AllocatorOptions options);

  // Admits a pod and allocates exclusive CPUs to each container that qualifies (Guaranteed pod,
  // whole-number CPU request). Init containers' CPUs are handed to the app containers first, so a
  // pod never holds more exclusive CPUs than its largest need. Adding a pod that is already known
  // changes nothing and returns its current decisions.
  std::vector<ContainerDecision> AddPod(const Pod& pod);

  // AddPod after admission: allocates for a request that Admit (or a test) built.
  std::vector<ContainerDecision> AddRequest(const PodRequest& request);

  // Allocates for the containers of `request` that its pod had no decision for yet, such as a
  // container added to the manifest of a running pod, and returns their decisions only. The
  // pod's other containers keep their CPUs. An unknown pod is added as AddRequest does.
  std::vector<ContainerDecision> AddContainers(const PodRequest& request);

  // Ends a pod's init phase: the exclusive CPUs its app containers did not reuse return to the
  // shared pool. Returns those CPUs.
  CpuSet FinishInit(const std::string& pod_uid);

  // Takes one container's exclusive CPUs away, for a container that numapind can never pin, and
  // records `reason` in its decision. CPUs that the pod's other containers hold stay with the
  // pod. Returns the CPUs released to the shared pool.
  CpuSet ReleaseContainer(const std::string& pod_uid, const std::string& container,
                          const absl::Status& reason);

  // Forgets a container that left its pod's manifest. Its exclusive CPUs go back to the shared
  // pool, less those the pod's other containers hold. Its decision is dropped too, so a container
  // added again under its name is decided as a new one. Returns the released CPUs.
  CpuSet RemoveContainer(const std::string& pod_uid, const std::string& container);

  // Forgets a pod and returns the exclusive CPUs it held to the shared pool. Returns those CPUs.
  CpuSet RemovePod(const std::string& pod_uid);

  // Online CPUs minus exclusive CPUs (minus reserved CPUs with strict_cpu_reservation). Never
  // empty: an allocation that would empty it is rejected.
  CpuSet SharedPool() const;
  CpuSet ExclusiveCpus() const;

  // nullptr when the container has no exclusive CPUs.
  const Assignment* Find(const std::string& pod_uid, const std::string& container) const;
  bool HasPod(const std::string& pod_uid) const;
  std::vector<AssignmentRecord> Assignments() const;  // Sorted by pod uid, then container.

  // Claims assignments read back from a checkpoint, exactly as recorded. Records whose CPUs are no
  // longer assignable, are reserved, or overlap an earlier record are not claimed; each of them
  // gets an error in the returned list, and the rest are kept. Two records of one pod may share
  // CPUs when one of them is a (non-sidecar) init container, whose CPUs its app containers reuse.
  // A record that would empty the shared pool is not claimed either.
  std::vector<absl::Status> Restore(const std::vector<AssignmentRecord>& records);

  const Topology& topology() const { return *topology_; }
  const AllocatorOptions& options() const { return options_; }

 private:
  struct ContainerState {
    bool init = false;
    bool sidecar = false;
    Assignment assignment;
  };

  struct PodState {
    std::string key;
    std::vector<ContainerDecision> decisions;
    std::map<std::string, ContainerState> containers;  // Containers holding exclusive CPUs.
    CpuSet held;                                       // Every exclusive CPU of the pod.
    CpuSet reusable;  // Init containers' CPUs that no app container or sidecar took yet.
  };

  NodeAllocator(const Topology& topology, AllocatorOptions options);

  ContainerDecision Decide(const PodRequest& request, const ContainerRequest& container,
                           PodState& pod);
  absl::StatusOr<Assignment> AllocateContainer(const PodRequest& request,
                                               const ContainerRequest& container, PodState& pod);
  absl::Status CheckRecord(const AssignmentRecord& record) const;
  Assignment Describe(const CpuSet& cpus) const;
  int SharedPoolSize() const;

  const Topology* topology_;
  AllocatorOptions options_;
  CpuPool pool_;
  CpuSet reserved_;                       // options_.reserved_cpus that are assignable.
  std::map<std::string, PodState> pods_;  // By pod uid.
  int last_owner_ = 0;                    // CpuPool owner id of the latest container placed.
};

}  // namespace numapin
