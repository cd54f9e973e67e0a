// NodeAllocator: which exclusive CPUs each container of a Guaranteed pod gets, and what remains
// as the shared pool. Pure code: a value of Topology plus the pods added and removed, in order.
// Same topology and same event sequence give the same result.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
};

// Exclusive CPUs of one container.
struct Assignment {
  CpuSet cpus;
  CpuSet numa_nodes;  // Node OS indexes of `cpus`.
  CpuSet mems;        // cpuset.mems: the nodes of `cpus` that have memory.
};

// The outcome for one container of a pod.
struct ContainerDecision {
  std::string container;
  bool init = false;
  bool exclusive = false;
  Assignment assignment;  // Set when exclusive.
  // Why the container is not exclusive (OK for a container that never asked, such as the
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

  // Ends a pod's init phase: the exclusive CPUs its app containers did not reuse return to the
  // shared pool. Returns those CPUs.
  CpuSet FinishInit(const std::string& pod_uid);

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
  // gets an error in the returned list, and the rest are kept.
  std::vector<absl::Status> Restore(const std::vector<AssignmentRecord>& records);

  const Topology& topology() const { return *topology_; }
  const AllocatorOptions& options() const { return options_; }

 private:
  NodeAllocator(const Topology& topology, AllocatorOptions options);

  const Topology* topology_;
  AllocatorOptions options_;
  // TODO: the allocator's state and helpers; see allocator.cc.
};

}  // namespace numapin
