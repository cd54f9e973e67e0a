// Restart recovery: the checkpoint's assignments are claimed again for pods that still run, and
// an unreadable checkpoint is replaced by what the live cgroups of exclusive containers hold.
#include "absl/strings/str_cat.h"
#include "daemon/core/daemon.h"
#include "policy/admission.h"

namespace numapin {
namespace {

bool HasContainer(const Pod& pod, const std::string& name, bool init) {
  for (const ContainerSpec& spec : init ? pod.init_containers : pod.containers) {
    if (spec.name == name) return true;
  }
  return false;
}

}  // namespace

void Daemon::RestoreAtStart(const std::map<std::string, Pod>& live) {
  std::vector<AssignmentRecord> records;
  if (rebuild_from_cgroups_) {
    records = RebuildFromCgroups(live);
  } else if (loaded_checkpoint_.has_value()) {
    for (const CheckpointEntry& entry : loaded_checkpoint_->entries) {
      const AssignmentRecord& record = entry.record;
      auto pod = live.find(record.pod_uid);
      if (pod == live.end() || !HasContainer(pod->second, record.container, record.init)) {
        log::Info("Released checkpoint assignment of a container that no longer runs",
                  {{"pod", record.pod_key},
                   {"container", record.container},
                   {"cpus", record.assignment.cpus.ToString()}});
        continue;
      }
      records.push_back(record);
    }
  }
  loaded_checkpoint_.reset();
  if (records.empty()) return;

  std::vector<absl::Status> errors = allocator_->Restore(records);
  for (const absl::Status& error : errors) {
    log::Error("Released checkpoint assignment that no longer holds", {{"error", error}});
  }
  for (const AssignmentRecord& record : records) {
    const Assignment* kept = allocator_->Find(record.pod_uid, record.container);
    if (kept == nullptr || !(kept->cpus == record.assignment.cpus)) continue;
    ManagedContainer& container = containers_[{record.pod_uid, record.container}];
    container.restored = true;
    log::Info("Restored assignment", {{"pod", record.pod_key},
                                      {"container", record.container},
                                      {"cpus", record.assignment.cpus.ToString()},
                                      {"numa", record.assignment.numa_nodes.ToString()}});
  }
}

// For each container that admission makes exclusive, a cgroup with exactly as many CPUs as it
// requests, all assignable, is taken to be its earlier assignment. The allocator's Restore
// rejects overlaps, so two containers can never end up with the same CPU.
std::vector<AssignmentRecord> Daemon::RebuildFromCgroups(const std::map<std::string, Pod>& live) {
  std::vector<AssignmentRecord> records;
  CpusetWriter reader(cpuset_files_.get(), layout_.version, CpuSet());
  for (const auto& [uid, pod] : live) {
    PodRequest request = Admit(pod, topology_);
    for (const ContainerRequest& wanted : request.containers) {
      if (wanted.exclusive_cpus == 0) continue;
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
      if (!reconciler_->Locate(probe)) continue;
      absl::StatusOr<CpusetValues> found = reader.Read(probe.cgroup_dir);
      if (!found.ok() || found->cpus.Size() != wanted.exclusive_cpus ||
          !found->cpus.IsSubsetOf(topology_.assignable_cpus()) ||
          found->cpus == topology_.assignable_cpus()) {
        continue;
      }
      AssignmentRecord record;
      record.pod_uid = uid;
      record.pod_key = pod.Key();
      record.container = wanted.container;
      record.init = wanted.init;
      record.assignment.cpus = found->cpus;
      record.assignment.numa_nodes = topology_.NodesOf(found->cpus);
      record.assignment.mems = record.assignment.numa_nodes.Intersection(
          topology_.NodesWithMemory());
      log::Info("Rebuilt assignment from the live cgroup",
                {{"pod", record.pod_key},
                 {"container", record.container},
                 {"cpus", record.assignment.cpus.ToString()},
                 {"cgroup", probe.cgroup_dir}});
      records.push_back(std::move(record));
    }
  }
  return records;
}

}  // namespace numapin
