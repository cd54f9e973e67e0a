// The event loop's handlers: pod source reads, cgroup directory events, the read-back tick,
// SIGHUP and changes of the kubelet's cpu_manager_state.
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "daemon/core/daemon.h"

namespace numapin {

void Daemon::OnPodSource() {
  std::vector<absl::Status> pod_errors;
  absl::StatusOr<std::optional<std::vector<Pod>>> pods = source_->Read(&pod_errors);
  for (const absl::Status& error : pod_errors) {
    ++pod_source_errors_[source_->name()];
    uint64_t suppressed = 0;
    if (log_limiter_.Allow(absl::StrCat("pod/", error.message()), absl::Now(), &suppressed)) {
      log::Error("Dropped a malformed pod",
                 {{"source", source_->name()}, {"error", error}, {"suppressed", suppressed}});
    }
  }
  if (!pods.ok()) {
    ++pod_source_errors_[source_->name()];
    uint64_t suppressed = 0;
    // Keyed by the status code, so that a change in the kind of failure (an HTTP error, then a
    // body that is not a PodList, then a rejected token) is logged at once.
    const std::string key =
        absl::StrCat("pod-source/", absl::StatusCodeToString(pods.status().code()));
    if (log_limiter_.Allow(key, absl::Now(), &suppressed)) {
      log::Error(
          "Reading pods failed; keeping the last good list",
          {{"source", source_->name()}, {"error", pods.status()}, {"suppressed", suppressed}});
    }
    Publish();
    return;
  }
  if (pods->has_value()) OnPods(std::move(**pods));
}

void Daemon::OnCgroupEvents() {
  const absl::Time now = absl::Now();
  CgroupWatcher::Events events = watcher_->Drain();
  if (events.overflow) {
    log::Warning("Cgroup watch queue overflowed; rescanning", {{"root", layout_.cpuset_root}});
  }
  for (const std::string& dir : events.removed) unnamed_cgroups_.erase(dir);
  // Containers whose cgroup (or pod cgroup) just appeared. Only these are located and pinned, so
  // that the cost of a new container does not grow with the number of containers on the node.
  std::vector<ManagedContainer*> touched;
  bool unknown = false;
  for (const std::string& dir : events.created) {
    unknown |= !OnCgroupCreated(dir, now, &touched);
  }
  if (unknown) source_->RequestRefresh();
  if (events.overflow) {
    LocateAll();
    ReconcileAll(Trigger::kChange);
    ScanForUnknownCgroups();
    Publish();
    return;
  }
  PinTouched(std::move(touched));
}

// Appends to `touched` the containers that a new cgroup directory belongs to. Returns false when
// the directory belongs to no container or pod that the pod source has named yet.
bool Daemon::OnCgroupCreated(const std::string& dir, absl::Time now,
                             std::vector<ManagedContainer*>* touched) {
  size_t slash = dir.rfind('/');
  std::string parent = dir.substr(0, slash);
  std::optional<std::string> parent_uid = PodUidFromDirName(parent.substr(parent.rfind('/') + 1));
  if (parent_uid.has_value()) return OnContainerCgroupCreated(dir, *parent_uid, now, touched);

  // A pod-level cgroup: re-read the pod source only for a pod it has not listed yet.
  std::optional<std::string> uid = PodUidFromDirName(dir.substr(slash + 1));
  if (!uid.has_value()) return true;
  if (!pods_.count(*uid)) return false;
  // Its container cgroups may already exist inside it when the pod cgroup was made with them.
  for (auto& [key, container] : containers_) {
    if (key.pod_uid == *uid) touched->push_back(&container);
  }
  return true;
}

// A new cgroup inside the cgroup of pod `pod_uid`. One that no named container owns is kept for
// the pin latency and pinned to the shared pool until the pod source names it.
bool Daemon::OnContainerCgroupCreated(const std::string& dir, const std::string& pod_uid,
                                      absl::Time now, std::vector<ManagedContainer*>* touched) {
  const std::string parent = dir.substr(0, dir.rfind('/'));
  bool known = false;
  for (auto& [key, container] : containers_) {
    if (key.pod_uid != pod_uid || container.container_id.empty()) continue;
    for (const std::string& name : ContainerCgroupCandidates(
             layout_, ContainerId{container.runtime, container.container_id})) {
      if (dir == parent + "/" + name) {
        container.cgroup_seen = now;
        known = true;
        touched->push_back(&container);
      }
    }
  }
  if (known) return true;
  if (unnamed_cgroups_.size() < kMaxUnnamedCgroups) unnamed_cgroups_.emplace(dir, now);
  // In observe mode the kubelet pins new containers itself.
  if (pods_.count(pod_uid) && options_.mode == DaemonMode::kAllocate) {
    reconciler_->PinUnknown(dir, SharedPool());
  }
  return false;
}

// Locates and reconciles only the containers whose cgroups appeared.
void Daemon::PinTouched(std::vector<ManagedContainer*> touched) {
  if (touched.empty()) return;
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<ManagedContainer*> scope;
  for (ManagedContainer* container : touched) {
    reconciler_->Locate(*container);
    if (!container->terminated) scope.push_back(container);
  }
  SyncMonitor();
  if (options_.mode != DaemonMode::kObserve || cpu_manager_state_valid_) {
    reconciler_->Run(scope, ExclusiveCpus(), Trigger::kChange);
  }
  Publish();
}

void Daemon::OnTimer() {
  // A source that keeps listing no pods may never deliver that list again (the dir source reads
  // only on changes), so the end of the wait is checked here.
  if (!first_sync_done_ && empty_first_list_since_.has_value() &&
      absl::Now() - *empty_first_list_since_ >= options_.empty_pod_list_wait) {
    OnPods({});
  }
  if (first_sync_done_ && allocator_.has_value()) {
    bool released = ReleaseUnlistedRestored(pods_);
    // The dir source reads only on changes, so the cgroup of a container removed from its
    // manifest is checked here until it is gone.
    released |= ReleaseRemovedContainers();
    if (released) {
      SaveCheckpoint();
      RefreshDesired();
    }
  }
  if (first_sync_done_) {
    LocateAll();
    ReconcileAll(Trigger::kReadback);
  }
  ReadMonitorCounters();
  LogTopIntruders();
  Publish();
}

void Daemon::OnReload() {
  log::Info("Reloading on SIGHUP: re-reading pods, rescanning cgroups", {});
  watcher_->Rescan();
  unknown_cgroups_logged_.clear();
  if (options_.mode == DaemonMode::kObserve) ReadCpuManagerState();
  source_->RequestRefresh();
  if (first_sync_done_) {
    RefreshDesired();
    LocateAll();
    ReconcileAll(Trigger::kChange);
    ScanForUnknownCgroups();
  }
  Publish();
}

void Daemon::OnCpuManagerStateChange() {
  alignas(struct inotify_event) char buffer[4096];
  bool relevant = false;
  const std::string base =
      options_.cpu_manager_state.substr(options_.cpu_manager_state.rfind('/') + 1);
  ssize_t n;
  while ((n = read(state_watch_fd_, buffer, sizeof(buffer))) > 0) {
    for (char* at = buffer; at < buffer + n;) {
      auto* event = reinterpret_cast<struct inotify_event*>(at);
      at += sizeof(struct inotify_event) + event->len;
      if (event->len > 0 && base == event->name) relevant = true;
    }
  }
  if (!relevant) return;
  ReadCpuManagerState();
  if (first_sync_done_) {
    RefreshDesired();
    ReconcileAll(Trigger::kChange);
  }
  Publish();
}

}  // namespace numapin
