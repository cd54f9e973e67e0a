// Containers that left a running pod's manifest: their exclusive CPUs go back to the shared pool
// once their cgroup is gone.
#include "daemon/core/daemon.h"

namespace numapin {
namespace {

// TODO: containers_ and the allocator key a container by name alone. A manifest edit that moves a
// name between the init and app container lists (the dir: pod source, or a static pod with a
// fixed uid) makes ReleaseRemovedContainers drop the decision and CPUs of the container that took
// the name.
bool InSpec(const Pod& pod, const ManagedContainer& container) {
  for (const ContainerSpec& spec : container.init ? pod.init_containers : pod.containers) {
    if (spec.name == container.name) return true;
  }
  return false;
}

}  // namespace

// Whether a process may still run in the container's cgroup: it was found and still exists, or
// it was never found under the container's id but turns up now. A container without an id has
// not started.
bool Daemon::CgroupMayRun(ManagedContainer& container) {
  if (!container.cgroup_dir.empty()) return cpuset_files_->IsDirectory(container.cgroup_dir);
  return !container.container_id.empty() && reconciler_->Locate(container);
}

// The API server rejects changes to a pod's container list. The kubelet gives a static pod a hash
// of its manifest as uid unless the manifest sets metadata.uid (applyDefaults in
// pkg/kubelet/config/common.go), so an edit makes a new pod. A container therefore leaves a
// running pod's spec mainly through the dir: pod source or a static pod with a fixed uid. It is
// never started again, so once its cgroup is gone no process can run on its exclusive CPUs, and
// holding them until the pod is deleted would only keep them from other pods. While its cgroup
// exists a process may still run there, so it keeps its CPUs and stays pinned. Returns true when
// CPUs went back to the shared pool.
bool Daemon::ReleaseRemovedContainers() {
  if (!allocator_.has_value()) return false;
  bool released_any = false;
  for (auto it = containers_.begin(); it != containers_.end();) {
    ManagedContainer& container = it->second;
    auto pod = pods_.find(container.pod_uid);
    if (pod == pods_.end() || InSpec(pod->second, container) || CgroupMayRun(container)) {
      ++it;
      continue;
    }
    // The decision goes too, so that a container added again under this name gets CPUs again.
    const CpuSet released = allocator_->RemoveContainer(container.pod_uid, container.name);
    log::Info("Released a container removed from its pod's manifest; it has no cgroup",
              {{"pod", container.PodKey()},
               {"container", container.name},
               {"released_cpus", released.ToString()}});
    ReleaseSlot(container);
    it = containers_.erase(it);
    released_any |= !released.Empty();
  }
  return released_any;
}

}  // namespace numapin
