// Reconciler: the one path that makes container cgroups match their desired cpusets. First pin,
// shared-pool updates, drift repair and restart recovery all run through Run(). inotify, the
// monitor and the read-back timer only decide when it runs and for which containers.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/cpuset_readback.h"
#include "daemon/cgroup/cpuset_writer.h"
#include "daemon/cgroup/layout.h"
#include "daemon/core/container.h"
#include "daemon/core/log.h"
#include "daemon/core/options.h"

namespace numapin {

// Cause of a reconciler run, which names the re-pin reason of a repaired drift.
enum class Trigger {
  kChange,    // Pods, cgroups or the pool changed; a drift found now is repaired as "cpuset".
  kReadback,  // The periodic read-back.
  kOutside,   // The monitor saw a tracked task run outside its allocation.
};

struct ReconcilerConfig {
  CgroupLayout layout;
  CpuSet assignable_cpus;  // Given to kubepods, QoS and pod cgroups, which must cover children.
  CpuSet all_mems;         // Nodes with memory.
  bool manage_mems = false;
  bool writes = true;  // False in observe mode without --repair: detect only.
  // Observe mode: the kubelet pins containers, so a cgroup that differs at first sight is drift,
  // not a first pin.
  bool observe = false;
  CfsQuotaPolicy exclusive_cfs_quota = CfsQuotaPolicy::kKeep;
};

class Reconciler {
 public:
  // `cpu_files` is the cpu controller's hierarchy for quota writes; nullptr when unavailable.
  Reconciler(ReconcilerConfig config, CgroupFiles* cpuset_files, CgroupFiles* cpu_files,
             EnforcementStats* stats);

  // Finds the container's cgroup when it has an id and has not been found for that id yet.
  // Returns true when the cgroup is new (first found, or the container restarted).
  bool Locate(ManagedContainer& container);

  // The pod's cgroup directory, or "" when none of the kubelet's candidate paths exists.
  std::string FindPodDir(const std::string& pod_uid, QosClass qos);

  // Compares each container's cgroup with its desired cpuset and writes the difference.
  // `exclusive_cpus` separates shared drift (a shared-pool container covering an exclusive CPU)
  // from cpuset drift. `detected` is when the drift that triggered this run was first seen
  // (the monitor event), for the repair latency; InfinitePast means now.
  void Run(const std::vector<ManagedContainer*>& scope, const CpuSet& exclusive_cpus,
           Trigger trigger, absl::Time detected = absl::InfinitePast());

  // Pins a container cgroup the pod source has not named yet to the shared pool, so that it
  // never runs on exclusive CPUs while numapind waits for its id.
  void PinUnknown(const std::string& dir, const CpuSet& shared_pool);

  // Closes the kept cpuset files of cgroups that no run read since the last call. The daemon
  // calls it after each periodic read-back, which reads every live container.
  void CloseUnreadFiles() { readback_.CloseUnread(); }

  const ReconcilerConfig& config() const { return config_; }
  CgroupFiles* cpuset_files() { return cpuset_files_; }

 private:
  enum class Step { kSkip, kFirstPin, kPoolChange, kRepair };
  Step Classify(ManagedContainer& container, const CpusetValues& found,
                const CpuSet& exclusive_cpus, Trigger trigger, absl::Time now);
  std::vector<CpusetTarget> Ancestors(const std::vector<ManagedContainer*>& scope);
  void LiftQuota(ManagedContainer& container);
  void Record(ManagedContainer& container, Step step, Trigger trigger, const CpusetValues& found,
              absl::Time started, absl::Time detected);

  ReconcilerConfig config_;
  CgroupFiles* cpuset_files_;
  CgroupFiles* cpu_files_;
  EnforcementStats* stats_;
  CpusetWriter writer_;
  CpusetReadback readback_;
  log::RateLimiter limiter_;
};

}  // namespace numapin
