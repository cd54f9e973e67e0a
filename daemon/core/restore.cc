// Restart recovery: the checkpoint's assignments are claimed again for pods that still run, and
// for containers removed from a running pod's manifest while their cgroup exists. An invalid
// record falls back to its container's live cpuset, and an unreadable checkpoint is replaced by
// the cpusets that the live cgroups of exclusive containers contain. The decisions are in
// daemon/state/recovery.cc; this file reads the cgroups and logs the outcomes.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/core/daemon.h"
#include "daemon/state/recovery.h"
#include "policy/admission.h"

namespace numapin {
namespace {

bool HasContainer(const Pod& pod, const std::string& name, bool init) {
  for (const ContainerSpec& spec : init ? pod.init_containers : pod.containers) {
    if (spec.name == name) return true;
  }
  return false;
}

// What the operator can do about an invalid checkpoint record.
constexpr char kRecordFix[] =
    "delete the pod to give it a fresh assignment; numapind rewrites checkpoint.pb itself, so "
    "do not edit it by hand";

// The request changed while numapind was down: an in-place resize, or an edited manifest in the
// dir: pod source. The container keeps the recorded CPUs, as UpdatePod keeps them for a request
// edited while numapind runs. It still runs on them with its memory on their NUMA node, and a
// fresh assignment of the new size would move it, or put it in the shared pool when the new size
// does not fit. So the change is only logged, with the counts and the way to apply it. A request
// count of 0 means the container no longer qualifies for exclusive CPUs.
void WarnIfRequestChanged(const RecoveryOutcome& outcome,
                          const std::vector<LiveContainer>& observed) {
  if (outcome.source != RecoverySource::kCheckpoint) return;
  const AssignmentRecord& record = outcome.record;
  for (const LiveContainer& container : observed) {
    if (container.pod_uid != record.pod_uid || container.container != record.container ||
        container.init != record.init) {
      continue;
    }
    const int record_count = record.assignment.cpus.Size();
    if (container.exclusive_cpus == record_count) return;
    log::Warning(
        "Restored assignment has another CPU count than the container's request; it keeps the "
        "recorded CPUs",
        {{"pod", record.pod_key},
         {"container", record.container},
         {"cpus", record.assignment.cpus.ToString()},
         {"record_cpu_count", record_count},
         {"request_cpu_count", container.exclusive_cpus},
         {"fix", "delete and recreate the pod to apply the new request"}});
    return;
  }
}

}  // namespace

// A kubelet that has just started can serve /pods before it has received its pods, while one that
// has them lists at least numapind's own DaemonSet pod. So an empty first list, while pods of the
// checkpoint still have cgroups, is not trusted: their CPUs stay claimed, and the daemon stays
// unsynced and not ready, for --empty-pod-list-wait. Only then are the CPUs released.
bool Daemon::DistrustEmptyFirstList(const std::map<std::string, Pod>& live) {
  if (!live.empty() || !loaded_checkpoint_.has_value()) return false;
  std::set<std::string> running;
  for (const CheckpointEntry& entry : loaded_checkpoint_->entries) {
    if (HasPodCgroup(entry.record.pod_uid)) running.insert(entry.record.pod_key);
  }
  if (running.empty()) return false;

  const absl::Time now = absl::Now();
  const std::string pods = absl::StrJoin(running, ",");
  if (!empty_first_list_since_.has_value()) {
    empty_first_list_since_ = now;
    log::Warning(
        "The pod source lists no pods, but pods of the checkpoint still have cgroups; keeping "
        "their CPUs until a list names them",
        {{"pods", pods}, {"wait", absl::FormatDuration(options_.empty_pod_list_wait)}});
  }
  if (now - *empty_first_list_since_ < options_.empty_pod_list_wait) return true;
  log::Warning("The pod source still lists no pods; releasing the checkpoint's assignments",
               {{"pods", pods}, {"waited", absl::FormatDuration(now - *empty_first_list_since_)}});
  return false;
}

bool Daemon::HasPodCgroup(const std::string& pod_uid) const {
  if (!ValidatePodUid(pod_uid).ok()) return false;
  for (const std::string& dir : PodCgroupCandidates(layout_, pod_uid, QosClass::kGuaranteed)) {
    if (cpuset_files_->IsDirectory(dir)) return true;
  }
  return false;
}

// Releases the CPUs of checkpointed pods that the first list left out, once their cgroups are
// gone or --empty-pod-list-wait after the first list has passed. A first list that names only
// some pods (a kubelet that has not yet heard of every pod) is as untrusted as an empty one.
// Returns true when CPUs were released.
bool Daemon::ReleaseUnlistedRestored(const std::map<std::string, Pod>& live) {
  const absl::Time now = absl::Now();
  bool released = false;
  for (auto it = unlisted_restored_.begin(); it != unlisted_restored_.end();) {
    const std::string uid = it->first;
    if (live.count(uid)) {
      it = unlisted_restored_.erase(it);
      continue;
    }
    if (now < unlisted_deadline_ && HasPodCgroup(uid)) {
      ++it;
      continue;
    }
    log::Info("Released checkpoint assignments of a pod the pod source does not list",
              {{"pod", it->second}, {"uid", uid}});
    it = unlisted_restored_.erase(it);
    released |= RemovePod(uid);
  }
  return released;
}

void Daemon::RestoreAtStart(const std::map<std::string, Pod>& live) {
  if (!rebuild_from_cgroups_ && !loaded_checkpoint_.has_value()) return;
  const std::vector<LiveContainer> observed = ObserveLiveCgroups(live);
  std::vector<RecoveryOutcome> outcomes;
  if (rebuild_from_cgroups_) {
    outcomes = RecoverFromCgroups(observed, *allocator_);
  } else {
    // The wait counts from the first list, empty or not.
    unlisted_deadline_ =
        empty_first_list_since_.value_or(absl::Now()) + options_.empty_pod_list_wait;
    const bool hold_unlisted = absl::Now() < unlisted_deadline_;
    std::vector<AssignmentRecord> records;
    for (const CheckpointEntry& entry : loaded_checkpoint_->entries) {
      const AssignmentRecord& record = entry.record;
      auto pod = live.find(record.pod_uid);
      if (pod == live.end() && hold_unlisted && HasPodCgroup(record.pod_uid)) {
        unlisted_restored_[record.pod_uid] = record.pod_key;
        records.push_back(record);
        continue;
      }
      if (pod != live.end() && !HasContainer(pod->second, record.container, record.init) &&
          TrackRemovedRestored(pod->second, entry)) {
        records.push_back(record);
        continue;
      }
      if (pod == live.end() || !HasContainer(pod->second, record.container, record.init)) {
        log::Info("Released checkpoint assignment of a container that no longer runs",
                  {{"pod", record.pod_key},
                   {"container", record.container},
                   {"cpus", record.assignment.cpus.ToString()}});
        continue;
      }
      records.push_back(record);
    }
    outcomes = RecoverFromCheckpoint(records, observed, *allocator_);
    if (!unlisted_restored_.empty()) {
      std::vector<std::string> keys;
      for (const auto& [uid, key] : unlisted_restored_) keys.push_back(key);
      log::Warning(
          "The first pod list leaves out pods of the checkpoint that still have cgroups; keeping "
          "their CPUs until a list names them",
          {{"pods", absl::StrJoin(keys, ",")},
           {"wait", absl::FormatDuration(unlisted_deadline_ - absl::Now())}});
    }
  }
  loaded_checkpoint_.reset();

  for (const RecoveryOutcome& outcome : outcomes) {
    if (rebuild_from_cgroups_) {
      LogRebuilt(outcome);
    } else {
      LogRestored(outcome);
      WarnIfRequestChanged(outcome, observed);
    }
    if (outcome.source == RecoverySource::kNone || !live.count(outcome.record.pod_uid)) continue;
    containers_[{outcome.record.pod_uid, outcome.record.container}].restored = true;
  }
}

// Tracks a container that left its pod's manifest, before numapind stopped or while it was
// down, as ReleaseRemovedContainers tracks one that leaves while numapind runs. While its cgroup
// exists a process may still run there, so it keeps its recorded CPUs. Releasing them here would
// let the same pod sync give them to another container. The checkpoint does not store the
// runtime, so the cgroup names of every runtime are tried. Returns false when no cgroup of the
// container exists.
bool Daemon::TrackRemovedRestored(const Pod& pod, const CheckpointEntry& entry) {
  if (!ValidateContainerId(entry.container_id).ok()) return false;
  ManagedContainer container;
  container.pod_uid = pod.uid;
  container.namespace_name = pod.namespace_name;
  container.pod_name = pod.name;
  container.name = entry.record.container;
  container.init = entry.record.init;
  container.qos = ComputeQos(pod);
  container.container_id = entry.container_id;
  if (!reconciler_->Locate(container)) return false;
  log::Info(
      "Keeping the checkpoint assignment of a container removed from its pod's manifest "
      "while its cgroup exists",
      {{"pod", entry.record.pod_key},
       {"container", entry.record.container},
       {"cpus", entry.record.assignment.cpus.ToString()},
       {"cgroup", container.cgroup_dir}});
  containers_[{pod.uid, container.name}] = std::move(container);
  return true;
}

// Reads the cgroup of every container of every live pod, with what admission grants it, so that
// recovery can tell exclusive cpusets from the shared pool.
std::vector<LiveContainer> Daemon::ObserveLiveCgroups(const std::map<std::string, Pod>& live) {
  std::vector<LiveContainer> observed;
  CpusetWriter reader(cpuset_files_.get(), layout_.version, CpuSet());
  for (const auto& [uid, pod] : live) {
    PodRequest request = Admit(pod, topology_);
    for (const ContainerRequest& wanted : request.containers) {
      LiveContainer container;
      container.pod_uid = uid;
      container.pod_key = pod.Key();
      container.container = wanted.container;
      container.init = wanted.init;
      container.sidecar = wanted.sidecar;
      container.exclusive_cpus = wanted.exclusive_cpus;

      ManagedContainer probe;
      probe.pod_uid = uid;
      probe.qos = request.qos;
      for (const ContainerStatus& status : pod.statuses) {
        if (status.name != wanted.container || status.init != wanted.init) continue;
        absl::StatusOr<ContainerId> id = ParseContainerId(status.container_id);
        if (!id.ok()) continue;
        probe.runtime = id->runtime;
        probe.container_id = id->id;
      }
      if (reconciler_->Locate(probe)) {
        container.cgroup_dir = probe.cgroup_dir;
        absl::StatusOr<CpusetValues> found = reader.Read(probe.cgroup_dir);
        if (found.ok()) container.cpus = found->cpus;
      }
      observed.push_back(std::move(container));
    }
  }
  return observed;
}

void Daemon::LogRebuilt(const RecoveryOutcome& outcome) {
  const AssignmentRecord& record = outcome.record;
  if (outcome.source == RecoverySource::kNone) {
    log::Info("Not adopting a live cpuset as an exclusive assignment",
              {{"pod", record.pod_key},
               {"container", record.container},
               {"cgroup", outcome.cgroup_dir},
               {"reason", outcome.live_error}});
    return;
  }
  log::Info("Rebuilt assignment from the live cgroup", {{"pod", record.pod_key},
                                                        {"container", record.container},
                                                        {"cpus", outcome.cpus.ToString()},
                                                        {"cgroup", outcome.cgroup_dir}});
}

void Daemon::LogRestored(const RecoveryOutcome& outcome) {
  const AssignmentRecord& record = outcome.record;
  const std::string record_cpus = record.assignment.cpus.ToString();
  switch (outcome.source) {
    case RecoverySource::kCheckpoint:
      log::Info("Restored assignment", {{"pod", record.pod_key},
                                        {"container", record.container},
                                        {"cpus", record_cpus},
                                        {"numa", record.assignment.numa_nodes.ToString()}});
      return;
    case RecoverySource::kLiveCgroup:
      log::Warning("Checkpoint record is invalid; adopted the container's live cpuset",
                   {{"pod", record.pod_key},
                    {"container", record.container},
                    {"record_cpus", record_cpus},
                    {"error", outcome.record_error},
                    {"cpus", outcome.cpus.ToString()},
                    {"cgroup", outcome.cgroup_dir}});
      return;
    case RecoverySource::kHeld:
      log::Error("Checkpoint record is invalid; holding the CPUs the container runs on",
                 {{"pod", record.pod_key},
                  {"container", record.container},
                  {"record_cpus", record_cpus},
                  {"error", outcome.record_error},
                  {"live_error", outcome.live_error},
                  {"held_cpus", outcome.cpus.ToString()},
                  {"fix", kRecordFix}});
      return;
    case RecoverySource::kNone:
      break;
  }
  // Nothing of the live cpuset could be held, so the container never ran on CPUs of its own
  // that another pod could take. It gets a fresh assignment when its pod is added, except a
  // regular init container of a pod with other restored containers (see DecideUnrestored).
  const bool stays_shared = allocator_->HasPod(record.pod_uid) && record.init && !record.sidecar;
  log::Error("Checkpoint record is invalid and the live cpuset cannot replace it",
             {{"pod", record.pod_key},
              {"container", record.container},
              {"record_cpus", record_cpus},
              {"error", outcome.record_error},
              {"live_error", outcome.live_error},
              {"result", stays_shared ? "the init container runs in the shared pool"
                                      : "the container gets a fresh assignment"},
              {"fix", kRecordFix}});
}

}  // namespace numapin
