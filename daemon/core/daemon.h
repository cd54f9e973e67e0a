// Daemon: numapind's event loop. One thread owns every piece of mutable state and waits in
// epoll on the cgroup watcher, the pod source, the monitor's ring buffer, the read-back timer,
// the kubelet state file (observe mode) and signals. Readers see only published snapshots.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/layout.h"
#include "daemon/cgroup/watcher.h"
#include "daemon/core/container.h"
#include "daemon/core/log.h"
#include "daemon/core/monitor_port.h"
#include "daemon/core/options.h"
#include "daemon/core/reconciler.h"
#include "daemon/core/state_dump.h"
#include "daemon/pod_source.h"
#include "daemon/snapshot.h"
#include "daemon/state/checkpoint.h"
#include "daemon/state/cpu_manager_state.h"
#include "daemon/state/recovery.h"
#include "daemon/state/state_lock.h"
#include "policy/allocator.h"
#include "policy/topology.h"

namespace numapin {

// Container ids as the pod source reported them, by container name and whether it is an init
// container.
using ContainerIds = std::map<std::pair<std::string, bool>, std::string>;

class Daemon {
 public:
  // Loads the topology, finds the cgroup layout, reads the checkpoint and starts the monitor
  // (per --monitor). `monitor` replaces the BPF monitor when not null (tests).
  static absl::StatusOr<std::unique_ptr<Daemon>> Create(DaemonOptions options,
                                                        std::unique_ptr<PodSource> source,
                                                        SnapshotBox* box,
                                                        std::unique_ptr<SchedMonitor> monitor = {});
  ~Daemon();

  // Calls `hook` on the loop thread after each published snapshot (the metrics textfile).
  void SetPublishHook(std::function<void(const DaemonSnapshot&)> hook) {
    publish_hook_ = std::move(hook);
  }

  // Runs until SIGTERM or SIGINT. The caller must have blocked those signals and SIGHUP in every
  // thread (BlockDaemonSignals) so that they arrive through the signalfd.
  absl::Status Run();

 private:
  Daemon(DaemonOptions options, std::unique_ptr<PodSource> source, SnapshotBox* box);
  absl::Status Init(std::unique_ptr<SchedMonitor> monitor);
  absl::Status InitCgroups();
  void InitCheckpoint();
  absl::Status InitMonitor(std::unique_ptr<SchedMonitor> monitor);
  absl::Status InitLoopFds();

  // Event handlers.
  void OnPodSource();
  void OnPods(std::vector<Pod> pods);
  void OnCgroupEvents();
  bool OnCgroupCreated(const std::string& dir, absl::Time now,
                       std::vector<ManagedContainer*>* touched);
  bool OnContainerCgroupCreated(const std::string& dir, const std::string& pod_uid, absl::Time now,
                                std::vector<ManagedContainer*>* touched);
  void PinTouched(std::vector<ManagedContainer*> touched);
  void OnMonitorEvents();
  void OnTimer();
  void OnReload();
  void OnCpuManagerStateChange();

  // Pods and assignments (pods.cc).
  void RestoreAtStart(const std::map<std::string, Pod>& live);
  bool DistrustEmptyFirstList(const std::map<std::string, Pod>& live);
  bool ReleaseUnlistedRestored(const std::map<std::string, Pod>& live);
  bool HasPodCgroup(const std::string& pod_uid) const;
  bool TrackRemovedRestored(const Pod& pod, const CheckpointEntry& entry);
  std::vector<LiveContainer> ObserveLiveCgroups(const std::map<std::string, Pod>& live);
  void LogRebuilt(const RecoveryOutcome& outcome);
  void LogRestored(const RecoveryOutcome& outcome);
  bool AddPod(const Pod& pod);
  std::vector<ContainerDecision> DecideUnrestored(PodRequest request);
  bool UpdatePod(const Pod& before, const Pod& after);
  bool TrackContainers(const Pod& pod, const std::vector<ContainerDecision>& decisions,
                       const ContainerIds& rejected_ids, bool only_new);
  bool RemovePod(const std::string& pod_uid);
  bool UpdateStatuses(const Pod& pod);
  bool ReleaseUnpinnable(const Pod& pod, ManagedContainer& container, const std::string& id);
  bool MaybeFinishInit(const Pod& pod);
  bool ReleaseRemovedContainers();  // removed_containers.cc
  bool CgroupMayRun(ManagedContainer& container);
  void RefreshDesired();
  void SaveCheckpoint();
  void ReassertStateLock();
  void ReadCpuManagerState();

  // Enforcement.
  void LocateAll();
  void ReconcileAll(Trigger trigger);
  void ScanForUnknownCgroups();
  void CheckKubepodsTree();
  CpuSet ExclusiveCpus() const;
  CpuSet SharedPool() const;

  // Monitor and snapshot (observe.cc).
  void SyncMonitor();
  void ReleaseSlot(ManagedContainer& container);
  void ReadMonitorCounters();
  void LogTopIntruders();
  void Publish();
  std::shared_ptr<DaemonSnapshot> BuildSnapshot() const;

  DaemonOptions options_;
  std::unique_ptr<PodSource> source_;
  SnapshotBox* box_;

  Topology topology_;
  std::optional<NodeAllocator> allocator_;  // Allocate mode only.
  CgroupLayout layout_;
  std::unique_ptr<CgroupFiles> cpuset_files_;
  std::unique_ptr<CgroupFiles> cpu_files_;
  std::unique_ptr<CgroupWatcher> watcher_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<SchedMonitor> monitor_;
  CheckpointStore checkpoint_;
  std::optional<StateDirLock> state_lock_;  // Allocate mode: held for the daemon's life.

  EnforcementStats stats_;
  ContainerTable containers_;
  std::map<std::string, Pod> pods_;  // Live pods by uid.
  std::set<std::string> init_finished_;
  std::set<std::string> unknown_cgroups_logged_;
  bool kubepods_missing_ = false;  // Logged as vanished, not yet back.
  // Container cgroups inotify reported before the pod source named their container, with the
  // time they appeared, for the pin latency. Bounded by kMaxUnnamedCgroups.
  std::map<std::string, absl::Time> unnamed_cgroups_;
  static constexpr size_t kMaxUnnamedCgroups = 1024;
  log::RateLimiter log_limiter_;

  // Start-up.
  std::optional<CheckpointData> loaded_checkpoint_;
  bool rebuild_from_cgroups_ = false;
  bool checkpoint_loaded_ = false;
  bool first_sync_done_ = false;
  // Set while an empty first pod list is not trusted (see DistrustEmptyFirstList).
  std::optional<absl::Time> empty_first_list_since_;
  // Checkpointed pods (uid to key) that the first pod list left out while their cgroups exist.
  // Their CPUs stay claimed until unlisted_deadline_ (see ReleaseUnlistedRestored).
  std::map<std::string, std::string> unlisted_restored_;
  absl::Time unlisted_deadline_;
  uint64_t checkpoint_generation_ = 0;

  // Counters for the snapshot.
  uint64_t checkpoint_write_failures_ = 0;
  std::map<std::string, uint64_t> allocation_failures_;
  std::map<std::string, uint64_t> pod_source_errors_;

  // Observe mode.
  std::optional<CpuManagerState> cpu_manager_state_;
  bool cpu_manager_state_valid_ = false;
  std::string cpu_manager_state_error_;
  int state_watch_fd_ = -1;

  // Monitor.
  std::vector<uint32_t> free_slots_;
  std::map<uint32_t, ContainerKey> slot_owner_;
  std::map<int, std::optional<uint32_t>> cpu_owner_pushed_;
  std::map<uint64_t, CpuSet> tracked_;         // cgroup id -> CPUs pushed to the monitor.
  std::map<uint32_t, uint64_t> slot_cgroup_;   // Slot -> cgroup id tracked in it.
  std::map<std::string, uint64_t> intruders_;  // "comm pid cgroup" -> events this interval.
  MonitorCounters counters_;

  std::function<void(const DaemonSnapshot&)> publish_hook_;
  std::optional<DumpedState> last_dump_;  // Values of the last --dump-state-file write.
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int signal_fd_ = -1;
  bool stopping_ = false;
};

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and threads it starts later).
void BlockDaemonSignals();

}  // namespace numapin
