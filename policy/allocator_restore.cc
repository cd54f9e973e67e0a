// NodeAllocator::Restore: claims the assignments a checkpoint recorded, after checking each one
// against the topology, the reserved CPUs and the records claimed before it.
#include <set>

#include "absl/strings/str_cat.h"
#include "policy/allocator.h"

namespace numapin {

std::vector<absl::Status> NodeAllocator::Restore(const std::vector<AssignmentRecord>& records) {
  std::vector<absl::Status> errors;
  std::set<std::string> restored_pods;
  for (const AssignmentRecord& record : records) {
    absl::Status status = CheckRecord(record);
    if (!status.ok()) {
      errors.push_back(std::move(status));
      continue;
    }
    PodState& pod = pods_[record.pod_uid];
    if (pod.key.empty()) pod.key = record.pod_key;
    const CpuSet& cpus = record.assignment.cpus;
    CpuSet claimed = cpus.Difference(pod.held);
    // NOTE: the pool counts a container as sharing a core only if it shares one now, so a
    // container that shared with one gone since counts as unshared after a restart, and the
    // sharing budget has that much more room.
    pool_.Take(claimed, ++last_owner_, cpus.Size());
    pod.held |= claimed;
    pod.containers[record.container] = {record.init, record.sidecar, record.assignment};

    ContainerDecision decision;
    decision.container = record.container;
    decision.init = record.init;
    decision.exclusive = true;
    decision.assignment = record.assignment;
    pod.decisions.push_back(std::move(decision));
    restored_pods.insert(record.pod_uid);
  }

  // Regular init containers' CPUs stay reusable until FinishInit, less what the pod's other
  // containers already hold, as AllocateContainer leaves them.
  for (const std::string& uid : restored_pods) {
    PodState& pod = pods_[uid];
    CpuSet init_cpus;
    CpuSet other_cpus;
    for (const auto& [name, state] : pod.containers) {
      (state.init && !state.sidecar ? init_cpus : other_cpus) |= state.assignment.cpus;
    }
    pod.reusable = init_cpus.Difference(other_cpus);
  }
  return errors;
}

absl::Status NodeAllocator::CheckRecord(const AssignmentRecord& record) const {
  const CpuSet& cpus = record.assignment.cpus;
  std::string label = absl::StrCat("checkpoint record for pod ", record.pod_key, " (uid ",
                                   record.pod_uid, ") container ", record.container, " with CPUs ",
                                   cpus.ToString(), " not claimed: ");
  if (cpus.Empty()) return absl::InvalidArgumentError(absl::StrCat(label, "it has no CPUs"));

  CpuSet known;
  for (const Core& core : topology_->cores()) known |= core.cpus;
  if (CpuSet unknown = cpus.Difference(known); !unknown.Empty()) {
    return absl::InvalidArgumentError(absl::StrCat(label, "CPUs ", unknown.ToString(),
                                                   " are not in topology ", topology_->source()));
  }
  if (CpuSet gone = cpus.Difference(topology_->assignable_cpus()); !gone.Empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, "CPUs ", gone.ToString(), " are no longer online and allowed"));
  }
  if (CpuSet reserved = cpus.Intersection(reserved_); !reserved.Empty()) {
    return absl::FailedPreconditionError(absl::StrCat(label, "CPUs ", reserved.ToString(),
                                                      " are reserved (--reserved-cpus ",
                                                      options_.reserved_cpus.ToString(), ")"));
  }

  auto pod = pods_.find(record.pod_uid);
  const bool regular_init = record.init && !record.sidecar;
  if (pod != pods_.end() && pod->second.containers.contains(record.container)) {
    return absl::AlreadyExistsError(
        absl::StrCat(label, "the container already has CPUs ",
                     pod->second.containers.at(record.container).assignment.cpus.ToString()));
  }
  for (const auto& [uid, other] : pods_) {
    for (const auto& [name, state] : other.containers) {
      CpuSet overlap = cpus.Intersection(state.assignment.cpus);
      if (overlap.Empty()) continue;
      bool reuse = uid == record.pod_uid && (regular_init || (state.init && !state.sidecar));
      if (reuse) continue;
      return absl::AlreadyExistsError(absl::StrCat(label, "CPUs ", overlap.ToString(),
                                                   " are already assigned to pod ", other.key,
                                                   " container ", name));
    }
  }

  int claimed = pod == pods_.end() ? cpus.Size() : cpus.Difference(pod->second.held).Size();
  if (SharedPoolSize() - claimed < 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, "it would empty the shared pool, which has ", SharedPoolSize(), " CPUs"));
  }
  return absl::OkStatus();
}

}  // namespace numapin
