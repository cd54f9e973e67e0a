// Restart recovery without the file system: which assignments to claim from the checkpoint's
// records and from the cpusets that the live container cgroups hold. The daemon reads the
// cgroups and logs the outcomes. This code only decides, so it is tested without cgroups.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/allocator.h"
#include "policy/cpuset.h"

namespace numapin {

// One container of a live pod as the restart finds it.
struct LiveContainer {
  std::string pod_uid;
  std::string pod_key;  // "namespace/name".
  std::string container;
  bool init = false;
  bool sidecar = false;
  // Exclusive CPUs that admission grants the container now: 0 unless its pod is Guaranteed with
  // a whole number of CPUs.
  int exclusive_cpus = 0;
  std::string cgroup_dir;      // Empty when the cgroup was not found.
  std::optional<CpuSet> cpus;  // cpuset.cpus of the cgroup; nullopt when not found or unreadable.
};

// Source of the CPUs a container got at restart.
enum class RecoverySource {
  kCheckpoint,  // The checkpoint record, as written.
  kLiveCgroup,  // The live cpuset, which is a valid exclusive assignment.
  kHeld,        // Part of the live cpuset, held because the record and the live cpuset are wrong.
  kNone,        // Nothing claimed.
};

struct RecoveryOutcome {
  AssignmentRecord record;  // The checkpoint record, or the one built from the live cgroup.
  RecoverySource source = RecoverySource::kNone;
  CpuSet cpus;                // The CPUs claimed; empty for kNone.
  std::string cgroup_dir;     // The live cgroup that kLiveCgroup and kHeld came from.
  absl::Status record_error;  // Reason the checkpoint record was not claimed.
  absl::Status live_error;    // Reason the live cpuset was not claimed as it is.
};

// The CPUs that every shared-pool container's live cgroup contains. numapind writes one shared
// pool into all of them, and a cgroup it never pinned (which inherits every CPU) or one widened
// by drift only adds CPUs, so this is the shared pool the previous numapind wrote. A drift that
// narrows one to CPUs outside the pool makes it empty. Empty when no such container runs.
CpuSet LiveSharedPool(const std::vector<LiveContainer>& live);

// OK when `container`'s live cpuset can stand as its exclusive assignment. Its pod must be
// Guaranteed with a whole number of CPUs, and the cpuset must have exactly that many CPUs, all
// assignable, none reserved and not the whole node. It must share no CPU with LiveSharedPool or
// with another exclusive container's live cpuset, because one of the two would then be a
// shared-pool container. An init container and its pod's app containers may overlap, because app
// containers reuse init containers' CPUs. Otherwise the error names the value and the rule.
absl::Status CheckLiveAssignment(const LiveContainer& container,
                                 const std::vector<LiveContainer>& live, const CpuSet& assignable,
                                 const CpuSet& reserved);

// Claims each record in `allocator`, those whose container's live cpuset equals the record
// first. A record the allocator rejects (a CPU not in the topology, reserved, claimed by an
// earlier record, or one that would empty the shared pool) falls back to the container's live
// cpuset when CheckLiveAssignment accepts it. When it does not, the CPUs of
// the live cpuset that can still be exclusive are held for the container (kHeld), so that no
// other pod gets the CPUs a running container may depend on. Records of containers not in
// `live` are skipped by the caller.
std::vector<RecoveryOutcome> RecoverFromCheckpoint(const std::vector<AssignmentRecord>& records,
                                                   const std::vector<LiveContainer>& live,
                                                   NodeAllocator& allocator);

// Claims the live cpuset of every container that CheckLiveAssignment accepts, for a restart
// without a usable checkpoint. Returns an outcome for each container that requests exclusive
// CPUs and has a live cgroup.
std::vector<RecoveryOutcome> RecoverFromCgroups(const std::vector<LiveContainer>& live,
                                                NodeAllocator& allocator);

}  // namespace numapin
