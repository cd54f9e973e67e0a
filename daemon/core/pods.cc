// Pods to assignments: admission and allocation of new pods, release of gone ones, init phase
// ends, restart recovery from the checkpoint (or from the live cgroups when it is unreadable),
// and the desired cpuset of every container.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/core/daemon.h"
#include "daemon/core/pod_diff.h"
#include "policy/admission.h"

namespace numapin {
namespace {

bool IsTerminal(const Pod& pod) { return pod.phase == "Succeeded" || pod.phase == "Failed"; }

std::string FailureReason(const absl::Status& status) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
}

const ContainerStatus* FindStatus(const Pod& pod, const std::string& name, bool init) {
  for (const ContainerStatus& status : pod.statuses) {
    if (status.name == name && status.init == init) return &status;
  }
  return nullptr;
}

absl::Status InvalidIdError(const Pod& pod, const std::string& container, const std::string& id) {
  return absl::InvalidArgumentError(absl::StrCat(
      "pod ", pod.Key(), " container ", container, ": container id \"", absl::CEscape(id),
      "\" is invalid, so its cgroup cannot be found and it gets no exclusive CPUs; "
      "check the container runtime that reported it"));
}

// Admits the pod, but a container whose status reports a container id that fails validation
// gets no exclusive CPUs: numapind cannot find its cgroup, so CPUs it could never pin there
// would be lost to every other pod. `rejected` receives those containers and their ids.
PodRequest AdmitWithValidIds(const Pod& pod, const Topology& topology, ContainerIds* rejected) {
  ContainerIds invalid_ids;
  for (const ContainerStatus& status : pod.statuses) {
    if (status.container_id.empty() || ParseContainerId(status.container_id).ok()) continue;
    invalid_ids[{status.name, status.init}] = status.container_id;
  }
  PodRequest request = Admit(pod, topology);
  for (ContainerRequest& wanted : request.containers) {
    auto invalid = invalid_ids.find({wanted.container, wanted.init});
    if (invalid == invalid_ids.end() || wanted.exclusive_cpus == 0) continue;
    wanted.exclusive_cpus = 0;
    rejected->insert(*invalid);
    wanted.error = InvalidIdError(pod, wanted.container, invalid->second);
  }
  return request;
}

}  // namespace

void Daemon::OnPods(std::vector<Pod> pods) {
  std::map<std::string, Pod> live;
  for (Pod& pod : pods) {
    absl::Status valid = ValidatePodUid(pod.uid);
    if (!valid.ok()) {
      ++allocation_failures_["invalid_pod_uid"];
      uint64_t suppressed = 0;
      if (log_limiter_.Allow(absl::StrCat("uid/", pod.uid), absl::Now(), &suppressed)) {
        log::Error("Rejected a pod with an invalid uid",
                   {{"pod", pod.Key()}, {"error", valid}, {"suppressed", suppressed}});
      }
      continue;
    }
    if (IsTerminal(pod)) continue;
    // try_emplace leaves `pod` intact when the uid is taken, so the warning can name it.
    auto [first, inserted] = live.try_emplace(pod.uid, std::move(pod));
    if (!inserted) {
      uint64_t suppressed = 0;
      if (log_limiter_.Allow(absl::StrCat("duplicate-uid/", pod.uid), absl::Now(), &suppressed)) {
        log::Warning("Ignored a second pod with the same uid", {{"pod", pod.Key()},
                                                                {"uid", pod.uid},
                                                                {"kept", first->second.Key()},
                                                                {"suppressed", suppressed}});
      }
    }
  }

  if (!first_sync_done_) {
    if (allocator_.has_value() && DistrustEmptyFirstList(live)) return;
    if (allocator_.has_value()) RestoreAtStart(live);
    first_sync_done_ = true;
    log::Info("First pod sync done", {{"pods", live.size()}});
  }

  bool assignments_changed = allocator_.has_value() && ReleaseUnlistedRestored(live);
  std::vector<std::string> gone;
  for (const auto& [uid, pod] : pods_) {
    if (!live.count(uid)) gone.push_back(uid);
  }
  for (const std::string& uid : gone) assignments_changed |= RemovePod(uid);
  for (const auto& [uid, pod] : live) {
    auto known = pods_.find(uid);
    if (known == pods_.end()) {
      assignments_changed |= AddPod(pod);
    } else {
      assignments_changed |= UpdatePod(known->second, pod);
    }
  }
  pods_ = std::move(live);
  for (const auto& [uid, pod] : pods_) {
    assignments_changed |= UpdateStatuses(pod);
    assignments_changed |= MaybeFinishInit(pod);
  }
  assignments_changed |= ReleaseRemovedContainers();

  // The checkpoint goes first: a daemon killed between the two writes then restarts with the
  // assignment it was about to enforce, never with a CPU given to two containers.
  if (assignments_changed && allocator_.has_value()) SaveCheckpoint();
  RefreshDesired();
  LocateAll();
  ReconcileAll(Trigger::kChange);
  ScanForUnknownCgroups();
  Publish();
}

bool Daemon::AddPod(const Pod& pod) {
  ContainerIds rejected_ids;
  std::vector<ContainerDecision> decisions;
  if (allocator_.has_value()) {
    PodRequest request = AdmitWithValidIds(pod, topology_, &rejected_ids);
    const bool restored = allocator_->HasPod(pod.uid);
    decisions = allocator_->AddRequest(request);
    if (restored) {
      std::vector<ContainerDecision> added = DecideUnrestored(request);
      decisions.insert(decisions.end(), added.begin(), added.end());
    }
  }
  const bool any_exclusive = TrackContainers(pod, decisions, rejected_ids, false);
  log::Info("Added pod",
            {{"pod", pod.Key()}, {"uid", pod.uid}, {"qos", QosClassName(ComputeQos(pod))}});
  return any_exclusive;
}

// For a pod restored from the checkpoint the allocator has decided only the restored containers.
// The others (added to the manifest while numapind was down, or with a record that could not be
// claimed) are decided as a new container would be. Regular init containers are left out: the
// checkpoint drops them once the init phase is over, and CPUs for a finished one would be lost.
std::vector<ContainerDecision> Daemon::DecideUnrestored(PodRequest request) {
  std::erase_if(request.containers,
                [](const ContainerRequest& wanted) { return wanted.init && !wanted.sidecar; });
  return allocator_->AddContainers(request);
}

// The kubelet's static CPU manager picks exclusive CPUs and their NUMA node at admission and does
// not resize them in place (KEP-5554 proposes that; in December 2026 it still targets alpha, in
// v1.38). numapin does the same, so an edited request or PreferredNUMANodeId moves nothing: the
// container's memory is already on its NUMA node, and CPUs moved to another node would make every
// access remote. Containers that newly appear are admitted and allocated as a new pod's would be.
// Removed ones keep their CPUs until their cgroup is gone (see ReleaseRemovedContainers). Returns
// true when a new container got exclusive CPUs.
bool Daemon::UpdatePod(const Pod& before, const Pod& after) {
  PodSpecChange change = DiffPodSpecs(before, after);
  if (change.Empty()) return false;
  log::Info("Pod manifest changed; running containers keep their CPUs and NUMA nodes",
            {{"pod", after.Key()},
             {"added", absl::StrJoin(change.added, ",")},
             {"removed", absl::StrJoin(change.removed, ",")},
             {"resized", absl::StrJoin(change.resized, ",")},
             {"annotations", absl::StrJoin(change.annotations, ",")},
             {"fix", "delete and recreate the pod to apply new requests or NUMA annotations"}});
  if (change.added.empty()) return false;

  ContainerIds rejected_ids;
  std::vector<ContainerDecision> decisions;
  if (allocator_.has_value()) {
    decisions = allocator_->AddContainers(AdmitWithValidIds(after, topology_, &rejected_ids));
  }
  return TrackContainers(after, decisions, rejected_ids, true);
}

// Creates the table entries of the pod's containers (with `only_new`, of those it has none for
// yet) and logs each decision. Returns true when one of them got exclusive CPUs.
bool Daemon::TrackContainers(const Pod& pod, const std::vector<ContainerDecision>& decisions,
                             const ContainerIds& rejected_ids, bool only_new) {
  const QosClass qos = ComputeQos(pod);
  bool any_exclusive = false;
  for (const std::vector<ContainerSpec>* specs : {&pod.init_containers, &pod.containers}) {
    for (const ContainerSpec& spec : *specs) {
      if (only_new && containers_.count({pod.uid, spec.name})) continue;
      ManagedContainer& container = containers_[{pod.uid, spec.name}];
      container.pod_uid = pod.uid;
      container.namespace_name = pod.namespace_name;
      container.pod_name = pod.name;
      container.name = spec.name;
      container.init = spec.init;
      container.qos = qos;
      for (const ContainerDecision& decision : decisions) {
        if (decision.container != spec.name || decision.init != spec.init) continue;
        if (decision.exclusive) {
          any_exclusive = true;
          log::Info("Assigned exclusive CPUs", {{"pod", pod.Key()},
                                                {"container", spec.name},
                                                {"cpus", decision.assignment.cpus.ToString()},
                                                {"numa", decision.assignment.numa_nodes.ToString()},
                                                {"init", spec.init ? "true" : "false"}});
        } else if (!decision.error.ok() && rejected_ids.count({spec.name, spec.init})) {
          container.error = std::string(decision.error.message());
          ++allocation_failures_["invalid_container_id"];
          log::Error("Container has an invalid container id; it gets no exclusive CPUs",
                     {{"pod", pod.Key()},
                      {"container", spec.name},
                      {"id", absl::CEscape(rejected_ids.at({spec.name, spec.init}))},
                      {"error", decision.error}});
        } else if (!decision.error.ok()) {
          container.error = std::string(decision.error.message());
          ++allocation_failures_[FailureReason(decision.error)];
          log::Warning("Container runs in the shared pool instead of on exclusive CPUs",
                       {{"pod", pod.Key()}, {"container", spec.name}, {"error", decision.error}});
        }
      }
    }
  }
  return any_exclusive;
}

bool Daemon::RemovePod(const std::string& pod_uid) {
  const std::string key = pods_.count(pod_uid) ? pods_.at(pod_uid).Key() : pod_uid;
  CpuSet released;
  if (allocator_.has_value()) released = allocator_->RemovePod(pod_uid);
  for (auto it = containers_.lower_bound({pod_uid, ""});
       it != containers_.end() && it->first.pod_uid == pod_uid;) {
    ReleaseSlot(it->second);
    it = containers_.erase(it);
  }
  init_finished_.erase(pod_uid);
  log::Info("Removed pod", {{"pod", key}, {"uid", pod_uid}});
  if (!released.Empty()) {
    log::Info("Released exclusive CPUs to the shared pool",
              {{"pod", key}, {"cpus", released.ToString()}});
  }
  return !released.Empty();
}

// Takes the container ids and states of the pod's statuses. A new id on a container that had
// one is a restart: same name, same assignment, new cgroup. Returns true when an exclusive
// container's id changed, so that the checkpoint records it.
bool Daemon::UpdateStatuses(const Pod& pod) {
  bool changed = false;
  for (auto it = containers_.lower_bound({pod.uid, ""});
       it != containers_.end() && it->first.pod_uid == pod.uid; ++it) {
    ManagedContainer& container = it->second;
    const ContainerStatus* status = FindStatus(pod, container.name, container.init);
    if (status == nullptr) continue;
    container.running = status->running;
    container.terminated = status->terminated && !status->running;
    if (status->container_id.empty()) continue;
    absl::StatusOr<ContainerId> id = ParseContainerId(status->container_id);
    if (!id.ok()) {
      uint64_t suppressed = 0;
      if (log_limiter_.Allow(absl::StrCat("id/", pod.uid, "/", container.name), absl::Now(),
                             &suppressed)) {
        log::Error("Ignoring an invalid container id",
                   {{"pod", pod.Key()}, {"container", container.name}, {"error", id.status()}});
      }
      changed |= ReleaseUnpinnable(pod, container, status->container_id);
      continue;
    }
    if (id->id == container.container_id) continue;
    if (!container.container_id.empty()) {
      log::Info("Container restarted; it keeps its CPUs", {{"pod", pod.Key()},
                                                           {"container", container.name},
                                                           {"old_id", container.container_id},
                                                           {"new_id", id->id}});
    }
    container.runtime = id->runtime;
    container.container_id = id->id;
    changed |= container.exclusive;
  }
  return changed;
}

// A container may report an invalid id after it got exclusive CPUs, as its first id or on a
// restart. Its cgroup can never be located, so its CPUs go back to the shared pool instead of
// being lost to every pod. Returns true when CPUs were released.
bool Daemon::ReleaseUnpinnable(const Pod& pod, ManagedContainer& container, const std::string& id) {
  if (!allocator_.has_value() || allocator_->Find(pod.uid, container.name) == nullptr) {
    return false;
  }
  const absl::Status reason = InvalidIdError(pod, container.name, id);
  CpuSet released = allocator_->ReleaseContainer(pod.uid, container.name, reason);
  container.error = std::string(reason.message());
  ++allocation_failures_["invalid_container_id"];
  log::Error("Container has an invalid container id; released its exclusive CPUs",
             {{"pod", pod.Key()},
              {"container", container.name},
              {"id", absl::CEscape(id)},
              {"released_cpus", released.ToString()}});
  return true;
}

// The kubelet ends a pod's init phase when every init container has terminated or an app
// container runs. The allocator then returns the init-only CPUs to the shared pool.
bool Daemon::MaybeFinishInit(const Pod& pod) {
  if (!allocator_.has_value() || pod.init_containers.empty() || init_finished_.count(pod.uid)) {
    return false;
  }
  bool app_running = false;
  for (const ContainerSpec& spec : pod.containers) {
    const ContainerStatus* status = FindStatus(pod, spec.name, false);
    app_running |= status != nullptr && status->running;
  }
  bool inits_done = true;
  for (const ContainerSpec& spec : pod.init_containers) {
    if (spec.sidecar) continue;
    const ContainerStatus* status = FindStatus(pod, spec.name, true);
    inits_done &= status != nullptr && status->terminated;
  }
  if (!app_running && !inits_done) return false;
  init_finished_.insert(pod.uid);
  CpuSet released = allocator_->FinishInit(pod.uid);
  log::Info("Init phase finished", {{"pod", pod.Key()}, {"released_cpus", released.ToString()}});
  return !released.Empty();
}

void Daemon::RefreshDesired() {
  const CpuSet shared = SharedPool();
  const bool manage_mems = options_.ManageMems();
  std::map<std::string, bool> all_exclusive;
  for (auto& [key, container] : containers_) {
    const Assignment* assignment = nullptr;
    std::optional<Assignment> observed;
    if (allocator_.has_value()) {
      assignment = allocator_->Find(key.pod_uid, key.name);
    } else if (cpu_manager_state_.has_value()) {
      auto pod = cpu_manager_state_->entries.find(key.pod_uid);
      if (pod != cpu_manager_state_->entries.end() && pod->second.count(key.name)) {
        const CpuSet& cpus = pod->second.at(key.name);
        const CpuSet nodes = topology_.NodesOf(cpus);
        // With --set-mems=on, expect the mems the allocator would give these CPUs. An empty set
        // never matches a cgroup, so every read-back would count drift.
        CpuSet mems = nodes.Intersection(topology_.NodesWithMemory());
        if (mems.Empty()) mems = nodes;
        observed = Assignment{cpus, nodes, mems};
        assignment = &*observed;
      }
    }
    container.exclusive = assignment != nullptr;
    if (assignment != nullptr) {
      container.assignment = *assignment;
      container.cpus = assignment->cpus;
      container.mems = manage_mems ? std::optional<CpuSet>(assignment->mems) : std::nullopt;
    } else {
      container.assignment = Assignment();
      container.cpus = shared;
      container.mems =
          manage_mems ? std::optional<CpuSet>(topology_.NodesWithMemory()) : std::nullopt;
    }
    if (!container.init) {
      auto [it, inserted] = all_exclusive.emplace(key.pod_uid, container.exclusive);
      if (!inserted) it->second &= container.exclusive;
    }
  }
  for (auto& [key, container] : containers_) {
    container.pod_all_exclusive = all_exclusive[key.pod_uid];
  }
}

void Daemon::SaveCheckpoint() {
  CheckpointData data;
  data.topology_source = options_.topology;
  data.assignable_cpus = topology_.assignable_cpus();
  data.generation = ++checkpoint_generation_;
  data.written = absl::Now();
  for (const AssignmentRecord& record : allocator_->Assignments()) {
    CheckpointEntry entry;
    entry.record = record;
    auto it = containers_.find({record.pod_uid, record.container});
    if (it != containers_.end()) entry.container_id = it->second.container_id;
    data.entries.push_back(std::move(entry));
  }
  absl::Status status = checkpoint_.Save(data);
  if (!status.ok()) {
    ++checkpoint_write_failures_;
    log::Error("Writing the checkpoint failed", {{"path", checkpoint_.path()}, {"error", status}});
  }
  ReassertStateLock();
}

// A state dir deleted under a running numapind comes back with the next checkpoint, but without
// the lock file, so a second daemon could claim its CPUs. Checked after each write.
void Daemon::ReassertStateLock() {
  if (!state_lock_.has_value()) return;
  absl::StatusOr<bool> retaken = state_lock_->Reassert();
  if (!retaken.ok()) {
    log::Error("Another process took the state directory's new lock file; stop the other numapind",
               {{"state_dir", options_.state_dir}, {"error", retaken.status()}});
  } else if (*retaken) {
    log::Warning("The state directory's lock file was gone; locked a new one",
                 {{"state_dir", options_.state_dir}});
  }
}

void Daemon::ReadCpuManagerState() {
  absl::StatusOr<CpuManagerState> state =
      ::numapin::ReadCpuManagerState(options_.cpu_manager_state);
  if (!state.ok()) {
    cpu_manager_state_valid_ = false;
    if (cpu_manager_state_error_ != state.status().message()) {
      cpu_manager_state_error_ = std::string(state.status().message());
      log::Error("cpu_manager_state is not usable; observe mode checks nothing until it is",
                 {{"path", options_.cpu_manager_state}, {"error", state.status()}});
    }
    return;
  }
  cpu_manager_state_ = *std::move(state);
  cpu_manager_state_valid_ = true;
  cpu_manager_state_error_.clear();
  log::Info("Read cpu_manager_state",
            {{"path", options_.cpu_manager_state},
             {"shared_pool", cpu_manager_state_->default_cpuset.ToString()},
             {"pods", cpu_manager_state_->entries.size()}});
}

}  // namespace numapin
