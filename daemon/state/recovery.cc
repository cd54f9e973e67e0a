// Restart recovery decisions: checkpoint records first, then the live cpusets of the containers
// whose records are wrong, then the CPUs that still have to be held for them.
#include "daemon/state/recovery.h"

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

std::string CpuCount(int count) { return absl::StrCat(count, count == 1 ? " CPU" : " CPUs"); }

// App containers reuse the CPUs of their pod's regular init containers, so those may overlap.
bool MayShareCpus(const LiveContainer& a, const LiveContainer& b) {
  return a.pod_uid == b.pod_uid && ((a.init && !a.sidecar) || (b.init && !b.sidecar));
}

const LiveContainer* FindLive(const std::vector<LiveContainer>& live,
                              const AssignmentRecord& record) {
  for (const LiveContainer& container : live) {
    if (container.pod_uid == record.pod_uid && container.container == record.container &&
        container.init == record.init) {
      return &container;
    }
  }
  return nullptr;
}

// Returns whether `other`'s live cpuset names CPUs that `container` cannot share. A container
// that was never pinned (its pod was created while numapind was down) inherits every assignable
// CPU, so its cpuset claims nothing. Counting it would cost every pinned container its CPUs.
bool Conflicts(const LiveContainer& container, const LiveContainer& other,
               const CpuSet& assignable) {
  return &other != &container && other.exclusive_cpus != 0 && other.cpus.has_value() &&
         *other.cpus != assignable && !MayShareCpus(container, other);
}

// The CPUs of other exclusive containers' live cpusets that `container` may not share.
CpuSet OtherExclusiveCpus(const LiveContainer& container, const std::vector<LiveContainer>& live,
                          const CpuSet& assignable) {
  CpuSet others;
  for (const LiveContainer& other : live) {
    if (Conflicts(container, other, assignable)) others |= *other.cpus;
  }
  return others;
}

AssignmentRecord RecordFor(const LiveContainer& container, const CpuSet& cpus,
                           const Topology& topology) {
  AssignmentRecord record;
  record.pod_uid = container.pod_uid;
  record.pod_key = container.pod_key;
  record.container = container.container;
  record.init = container.init;
  record.sidecar = container.sidecar;
  record.assignment.cpus = cpus;
  record.assignment.numa_nodes = topology.NodesOf(cpus);
  // As the allocator sets it: the nodes with memory, or all of them when none reports memory.
  record.assignment.mems = record.assignment.numa_nodes.Intersection(topology.NodesWithMemory());
  if (record.assignment.mems.Empty()) record.assignment.mems = record.assignment.numa_nodes;
  return record;
}

absl::Status Claim(NodeAllocator& allocator, const AssignmentRecord& record) {
  std::vector<absl::Status> errors = allocator.Restore({record});
  return errors.empty() ? absl::OkStatus() : errors.front();
}

// The CPUs of the live cpuset that can still be exclusive to the container: assignable, not
// reserved, outside the shared pool and not claimed or used by another exclusive container.
// Empty for a cpuset of the whole node, which a never-pinned container inherits.
CpuSet HoldableCpus(const LiveContainer& container, const std::vector<LiveContainer>& live,
                    const NodeAllocator& allocator) {
  const CpuSet& assignable = allocator.topology().assignable_cpus();
  if (container.exclusive_cpus == 0 || !container.cpus.has_value() ||
      *container.cpus == assignable) {
    return CpuSet();
  }
  CpuSet cpus = container.cpus->Intersection(assignable);
  cpus -= allocator.options().reserved_cpus;
  cpus -= LiveSharedPool(live);
  cpus -= OtherExclusiveCpus(container, live, assignable);
  cpus -= allocator.ExclusiveCpus();
  return cpus;
}

}  // namespace

CpuSet LiveSharedPool(const std::vector<LiveContainer>& live) {
  std::optional<CpuSet> shared;
  for (const LiveContainer& container : live) {
    if (container.exclusive_cpus != 0 || !container.cpus.has_value()) continue;
    shared = shared.has_value() ? shared->Intersection(*container.cpus) : *container.cpus;
  }
  return shared.value_or(CpuSet());
}

absl::Status CheckLiveAssignment(const LiveContainer& container,
                                 const std::vector<LiveContainer>& live, const CpuSet& assignable,
                                 const CpuSet& reserved) {
  const std::string label = absl::StrCat("live cgroup ", container.cgroup_dir, " of pod ",
                                         container.pod_key, " container ", container.container);
  if (container.exclusive_cpus == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, " is not adopted: the pod is not Guaranteed with a whole number of CPUs"));
  }
  if (!container.cpus.has_value()) {
    return absl::NotFoundError(absl::StrCat("pod ", container.pod_key, " container ",
                                            container.container, " has no readable live cgroup"));
  }
  const CpuSet& cpus = *container.cpus;
  const std::string found =
      absl::StrCat(label, " with cpuset.cpus ", cpus.ToString(), " is not adopted: ");
  if (cpus.Size() != container.exclusive_cpus) {
    return absl::FailedPreconditionError(
        absl::StrCat(found, "the container requests ", CpuCount(container.exclusive_cpus),
                     ", but the cpuset has ", CpuCount(cpus.Size())));
  }
  if (CpuSet outside = cpus.Difference(assignable); !outside.Empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(found, "CPUs ", outside.ToString(), " are not assignable"));
  }
  if (cpus == assignable) {
    return absl::FailedPreconditionError(absl::StrCat(found, "it is every assignable CPU"));
  }
  if (CpuSet overlap = cpus.Intersection(reserved); !overlap.Empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(found, "CPUs ", overlap.ToString(), " are reserved"));
  }
  const CpuSet shared = LiveSharedPool(live);
  if (CpuSet overlap = cpus.Intersection(shared); !overlap.Empty()) {
    return absl::FailedPreconditionError(absl::StrCat(found, "CPUs ", overlap.ToString(),
                                                      " are in the shared pool ", shared.ToString(),
                                                      " that shared-pool containers run on"));
  }
  for (const LiveContainer& other : live) {
    if (!Conflicts(container, other, assignable)) continue;
    if (CpuSet overlap = cpus.Intersection(*other.cpus); !overlap.Empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          found, "CPUs ", overlap.ToString(), " are also in the cpuset of pod ", other.pod_key,
          " container ", other.container, ", so at least one of them runs in the shared pool"));
    }
  }
  return absl::OkStatus();
}

std::vector<RecoveryOutcome> RecoverFromCheckpoint(const std::vector<AssignmentRecord>& records,
                                                   const std::vector<LiveContainer>& live,
                                                   NodeAllocator& allocator) {
  const Topology& topology = allocator.topology();
  const CpuSet& reserved = allocator.options().reserved_cpus;
  std::vector<RecoveryOutcome> outcomes;
  for (const AssignmentRecord& record : records) {
    RecoveryOutcome outcome;
    outcome.record = record;
    outcomes.push_back(std::move(outcome));
  }
  // When two records name one CPU, the record of the container that still runs there wins. In
  // file order, a record of a container that never ran there could move the other one off it.
  for (bool matching : {true, false}) {
    for (RecoveryOutcome& outcome : outcomes) {
      const LiveContainer* container = FindLive(live, outcome.record);
      const bool runs_there = container != nullptr && container->cpus.has_value() &&
                              *container->cpus == outcome.record.assignment.cpus;
      if (runs_there != matching) continue;
      outcome.record_error = Claim(allocator, outcome.record);
      if (!outcome.record_error.ok()) continue;
      outcome.source = RecoverySource::kCheckpoint;
      outcome.cpus = outcome.record.assignment.cpus;
    }
  }

  // Every good record is claimed before any fallback, so that a fallback never takes CPUs
  // that a correct record names.
  for (RecoveryOutcome& outcome : outcomes) {
    if (outcome.source != RecoverySource::kNone) continue;
    const LiveContainer* container = FindLive(live, outcome.record);
    if (container == nullptr) {
      outcome.live_error = absl::NotFoundError("the container is not in the pod source");
      continue;
    }
    outcome.cgroup_dir = container->cgroup_dir;
    outcome.live_error =
        CheckLiveAssignment(*container, live, topology.assignable_cpus(), reserved);
    if (!outcome.live_error.ok()) continue;
    AssignmentRecord adopted = RecordFor(*container, *container->cpus, topology);
    outcome.live_error = Claim(allocator, adopted);
    if (!outcome.live_error.ok()) continue;
    outcome.source = RecoverySource::kLiveCgroup;
    outcome.cpus = adopted.assignment.cpus;
  }

  // Holds come last: they are a stopgap for wrong state, so they yield to any valid claim. A
  // hold is safer than a fresh assignment because the container is still running on those CPUs:
  // a fresh assignment would move it, and the same pod sync could give its CPUs to another
  // pod. The hold keeps it in place until the pod source stops listing the pod.
  for (RecoveryOutcome& outcome : outcomes) {
    if (outcome.source != RecoverySource::kNone) continue;
    const LiveContainer* container = FindLive(live, outcome.record);
    if (container == nullptr) continue;
    CpuSet held = HoldableCpus(*container, live, allocator);
    if (held.Empty()) continue;
    AssignmentRecord hold = RecordFor(*container, held, topology);
    if (!Claim(allocator, hold).ok()) continue;
    outcome.source = RecoverySource::kHeld;
    outcome.cpus = held;
  }
  return outcomes;
}

std::vector<RecoveryOutcome> RecoverFromCgroups(const std::vector<LiveContainer>& live,
                                                NodeAllocator& allocator) {
  const Topology& topology = allocator.topology();
  std::vector<RecoveryOutcome> outcomes;
  for (const LiveContainer& container : live) {
    if (container.exclusive_cpus == 0 || !container.cpus.has_value()) continue;
    RecoveryOutcome outcome;
    outcome.record = RecordFor(container, *container.cpus, topology);
    outcome.cgroup_dir = container.cgroup_dir;
    outcome.live_error = CheckLiveAssignment(container, live, topology.assignable_cpus(),
                                             allocator.options().reserved_cpus);
    if (outcome.live_error.ok()) outcome.live_error = Claim(allocator, outcome.record);
    if (outcome.live_error.ok()) {
      outcome.source = RecoverySource::kLiveCgroup;
      outcome.cpus = *container.cpus;
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace numapin
