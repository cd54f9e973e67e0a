// NodeAllocator: pods and their containers' exclusive CPUs on top of CpuPool, the kubelet's rule
// for reusing init containers' CPUs, the shared pool that is never emptied, and checkpoint restore.
#include "policy/allocator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

std::string ContainerLabel(const std::string& pod_key, const std::string& container) {
  return absl::StrCat("pod ", pod_key, " container ", container);
}

}  // namespace

absl::StatusOr<NodeAllocator> NodeAllocator::Create(const Topology& topology,
                                                    AllocatorOptions options) {
  CpuSet known;
  for (const Core& core : topology.cores()) known |= core.cpus;
  CpuSet unknown = options.reserved_cpus.Difference(known);
  if (!unknown.Empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("reserved CPUs ", unknown.ToString(), " are not in topology ",
                     topology.source(), " (CPUs ", known.ToString(), "); fix --reserved-cpus"));
  }
  if (topology.assignable_cpus().Empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology ", topology.source(), " has no online, allowed CPU"));
  }
  if (options.strict_cpu_reservation &&
      topology.assignable_cpus().IsSubsetOf(options.reserved_cpus)) {
    return absl::InvalidArgumentError(
        absl::StrCat("strict CPU reservation of ", options.reserved_cpus.ToString(),
                     " leaves the shared pool empty: every assignable CPU (",
                     topology.assignable_cpus().ToString(), ") is reserved; reserve fewer CPUs"));
  }
  if (options.sharing_budget_percent < 0 || options.sharing_budget_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat("invalid sharing budget ",
                                                   options.sharing_budget_percent,
                                                   "%: expected a percentage from 0 to 100"));
  }
  if (options.nearly_full_percent < 0 || options.nearly_full_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat("invalid nearly-full mark ",
                                                   options.nearly_full_percent,
                                                   "%: expected a percentage from 0 to 100"));
  }
  return NodeAllocator(topology, std::move(options));
}

NodeAllocator::NodeAllocator(const Topology& topology, AllocatorOptions options)
    : topology_(&topology),
      options_(std::move(options)),
      pool_(topology, options_.reserved_cpus),
      reserved_(options_.reserved_cpus.Intersection(topology.assignable_cpus())) {}

std::vector<ContainerDecision> NodeAllocator::AddRequest(const PodRequest& request) {
  if (auto it = pods_.find(request.pod_uid); it != pods_.end()) return it->second.decisions;

  PodState& pod = pods_[request.pod_uid];
  pod.key = request.pod_key;
  for (const ContainerRequest& container : request.containers) {
    pod.decisions.push_back(Decide(request, container, pod));
  }
  return pod.decisions;
}

std::vector<ContainerDecision> NodeAllocator::AddContainers(const PodRequest& request) {
  auto it = pods_.find(request.pod_uid);
  if (it == pods_.end()) return AddRequest(request);
  PodState& pod = it->second;
  std::vector<ContainerDecision> added;
  for (const ContainerRequest& container : request.containers) {
    const bool known = std::any_of(
        pod.decisions.begin(), pod.decisions.end(), [&](const ContainerDecision& decision) {
          return decision.container == container.container && decision.init == container.init;
        });
    if (known) continue;
    added.push_back(Decide(request, container, pod));
    pod.decisions.push_back(added.back());
  }
  return added;
}

ContainerDecision NodeAllocator::Decide(const PodRequest& request,
                                        const ContainerRequest& container, PodState& pod) {
  ContainerDecision decision;
  decision.container = container.container;
  decision.init = container.init;
  decision.error = container.error;
  bool asks = container.exclusive_cpus > 0 && request.qos == QosClass::kGuaranteed;
  if (asks && !request.annotation_error.ok()) {
    decision.error = request.annotation_error;
  } else if (asks) {
    absl::StatusOr<Assignment> assignment = AllocateContainer(request, container, pod);
    if (assignment.ok()) {
      decision.exclusive = true;
      decision.assignment = *assignment;
    } else {
      decision.error = assignment.status();
    }
  }
  return decision;
}

// Takes the pod's reusable init CPUs first, then free CPUs. This is the rule of the kubelet's
// static CPU manager (updateCPUsToReuse in pkg/kubelet/cm/cpumanager/policy_static.go). A regular
// init container's CPUs join the pod's reusable set once it is placed, and every later container
// (init, sidecar or app) draws from that set first. A sidecar's or app container's CPUs leave the
// set for good. So the pod's exclusive CPUs never exceed the kubelet's effective request: the
// max of each init container plus the sidecars declared before it, and of the sum of all app
// containers and sidecars.
absl::StatusOr<Assignment> NodeAllocator::AllocateContainer(const PodRequest& request,
                                                            const ContainerRequest& container,
                                                            PodState& pod) {
  const int count = container.exclusive_cpus;
  const bool whole_cores = options_.full_pcpus_only;
  const bool strict = request.numa_policy == NumaPolicy::kStrict;
  auto fail = [&](absl::string_view reason) {
    return absl::ResourceExhaustedError(absl::StrCat(ContainerLabel(pod.key, container.container),
                                                     ": cannot allocate ", count,
                                                     " exclusive CPUs: ", reason));
  };
  if (whole_cores && count % topology_->SmtWidth() != 0) {
    return fail(absl::StrCat("the request is not a multiple of the SMT width ",
                             topology_->SmtWidth(), ", and full-pcpus-only gives whole cores"));
  }

  CpuSet cpus = pool_.ChooseWithin(pod.reusable, count, whole_cores);
  int rest = count - cpus.Size();
  if (rest > 0) {
    CpuRequest cpu_request;
    // TODO: the pool gets only the CPUs not reused from init containers. So for a container that
    // needs one more CPU it applies the 1-CPU rules: the fill order that pairs 1-CPU containers,
    // and a sharing budget that leaves this container out.
    cpu_request.count = rest;
    cpu_request.preferred_node = request.preferred_node;
    if (!cpu_request.preferred_node && !cpus.Empty()) {
      cpu_request.preferred_node = topology_->NodeOf(cpus.First());
    }
    cpu_request.strict = strict;
    cpu_request.whole_cores = whole_cores;
    cpu_request.spare_unshared = options_.spare_unshared_cores;
    cpu_request.sharing_budget_percent = options_.sharing_budget_percent;
    cpu_request.keep_holes = options_.keep_node_holes;
    cpu_request.nearly_full_percent = options_.nearly_full_percent;
    cpu_request.spill =
        !strict && (options_.spill_on_shortage || rest > pool_.LargestNodeCapacity(whole_cores));
    absl::StatusOr<CpuSet> chosen = pool_.Choose(cpu_request);
    if (!chosen.ok()) return fail(chosen.status().message());
    int shared = SharedPoolSize();
    if (shared - rest < 1) {
      return fail(absl::StrCat("it would empty the shared pool, which has ", shared,
                               " CPUs; the shared pool keeps at least one CPU"));
    }
    pool_.Take(*chosen, ++last_owner_, count);
    pod.held |= *chosen;
    cpus |= *chosen;
  }

  if (container.init && !container.sidecar) {
    pod.reusable |= cpus;
  } else {
    pod.reusable -= cpus;
  }
  Assignment assignment = Describe(cpus);
  pod.containers[container.container] = {container.init, container.sidecar, assignment};
  return assignment;
}

// Sets cpuset.mems to the nodes of the CPUs that have memory. When none of them reports memory (an
// export that records no memory sizes, or CPU-only nodes), it falls back to the CPUs' own nodes.
// An empty value would not do: cgroup v1 rejects tasks in a cpuset without memory nodes, and in
// v2 an empty cpuset.mems means the parent's nodes.
Assignment NodeAllocator::Describe(const CpuSet& cpus) const {
  Assignment assignment;
  assignment.cpus = cpus;
  assignment.numa_nodes = topology_->NodesOf(cpus);
  assignment.mems = assignment.numa_nodes.Intersection(topology_->NodesWithMemory());
  if (assignment.mems.Empty()) assignment.mems = assignment.numa_nodes;
  return assignment;
}

CpuSet NodeAllocator::FinishInit(const std::string& pod_uid) {
  auto it = pods_.find(pod_uid);
  if (it == pods_.end()) return CpuSet();
  PodState& pod = it->second;

  for (auto c = pod.containers.begin(); c != pod.containers.end();) {
    c = c->second.init && !c->second.sidecar ? pod.containers.erase(c) : std::next(c);
  }
  for (ContainerDecision& decision : pod.decisions) {
    if (decision.init && decision.exclusive && !pod.containers.contains(decision.container)) {
      decision.exclusive = false;
      decision.assignment = Assignment();
    }
  }
  CpuSet released = pod.reusable;
  pod.reusable = CpuSet();
  pod.held -= released;
  pool_.Release(released);
  return released;
}

CpuSet NodeAllocator::ReleaseContainer(const std::string& pod_uid, const std::string& container,
                                       const absl::Status& reason) {
  auto it = pods_.find(pod_uid);
  if (it == pods_.end()) return CpuSet();
  PodState& pod = it->second;
  auto state = pod.containers.find(container);
  if (state == pod.containers.end()) return CpuSet();
  const CpuSet cpus = state->second.assignment.cpus;
  pod.containers.erase(state);

  CpuSet still_held;
  for (const auto& [name, other] : pod.containers) still_held |= other.assignment.cpus;
  const CpuSet released = cpus.Difference(still_held);
  pod.reusable -= released;
  pod.held -= released;
  pool_.Release(released);
  for (ContainerDecision& decision : pod.decisions) {
    if (decision.container != container || !decision.exclusive) continue;
    decision.exclusive = false;
    decision.assignment = Assignment();
    decision.error = reason;
  }
  return released;
}

CpuSet NodeAllocator::RemoveContainer(const std::string& pod_uid, const std::string& container) {
  const CpuSet released = ReleaseContainer(pod_uid, container, absl::OkStatus());
  auto it = pods_.find(pod_uid);
  if (it == pods_.end()) return released;
  std::erase_if(it->second.decisions,
                [&](const ContainerDecision& decision) { return decision.container == container; });
  return released;
}

CpuSet NodeAllocator::RemovePod(const std::string& pod_uid) {
  auto it = pods_.find(pod_uid);
  if (it == pods_.end()) return CpuSet();
  CpuSet released = it->second.held;
  pool_.Release(released);
  pods_.erase(it);
  return released;
}

int NodeAllocator::SharedPoolSize() const {
  int size = pool_.free_cpus().Size();
  if (!options_.strict_cpu_reservation) size += reserved_.Size();
  return size;
}

CpuSet NodeAllocator::SharedPool() const {
  CpuSet shared = topology_->assignable_cpus().Difference(pool_.taken_cpus());
  if (options_.strict_cpu_reservation) shared -= reserved_;
  return shared;
}

CpuSet NodeAllocator::ExclusiveCpus() const { return pool_.taken_cpus(); }

const Assignment* NodeAllocator::Find(const std::string& pod_uid,
                                      const std::string& container) const {
  auto pod = pods_.find(pod_uid);
  if (pod == pods_.end()) return nullptr;
  auto it = pod->second.containers.find(container);
  return it == pod->second.containers.end() ? nullptr : &it->second.assignment;
}

bool NodeAllocator::HasPod(const std::string& pod_uid) const { return pods_.contains(pod_uid); }

std::vector<AssignmentRecord> NodeAllocator::Assignments() const {
  std::vector<AssignmentRecord> records;
  for (const auto& [uid, pod] : pods_) {
    for (const auto& [name, state] : pod.containers) {
      records.push_back({uid, pod.key, name, state.init, state.sidecar, state.assignment});
    }
  }
  return records;
}

}  // namespace numapin
