// ManagedContainer: the event loop's record of one container of a known pod, keyed by pod uid
// and container name (its id changes on restart), with its desired cpuset, where its cgroup is,
// and its enforcement state.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/cgroup/cpuset_writer.h"
#include "daemon/core/repin_limiter.h"
#include "daemon/snapshot.h"
#include "policy/allocator.h"
#include "policy/pod.h"

namespace numapin {

struct ContainerKey {
  std::string pod_uid;
  std::string name;
  auto operator<=>(const ContainerKey&) const = default;
};

struct ManagedContainer {
  // Identity.
  std::string pod_uid;
  std::string namespace_name;
  std::string pod_name;
  std::string name;
  QosClass qos = QosClass::kBestEffort;
  bool init = false;
  std::string runtime;       // "containerd", ...; empty until the container has started.
  std::string container_id;  // Validated id without the runtime prefix.
  bool running = false;
  bool terminated = false;

  // Desired state.
  bool exclusive = false;
  Assignment assignment;  // Set when exclusive.
  std::string error;      // Reason it is not exclusive although it requested exclusive CPUs.
  CpuSet cpus;
  std::optional<CpuSet> mems;
  bool pod_all_exclusive = false;  // Every container of the pod is exclusive: lift pod quota.

  // The container's cgroup, relative to the cpuset root; empty until found.
  std::string cgroup_dir;
  std::string located_id;  // Container id the cgroup was found for.
  uint64_t cgroup_id = 0;  // Inode, as the BPF monitor keys it.
  absl::Time cgroup_seen = absl::InfinitePast();  // inotify reported the directory.
  int slot = -1;                                   // Monitor slot, -1 when untracked.

  // Enforcement state.
  bool pinned = false;  // The current cgroup holds, or was written with, `pinned_cpus`.
  bool restored = false;  // The assignment came from the checkpoint; first pin is a restore.
  CpuSet pinned_cpus;
  std::optional<CpusetValues> last_drift_found;  // Logged drift, so a lasting one counts once.
  std::string drift_kind;                        // "cpuset" or "shared", of the last drift.
  RepinLimiter limiter;
  ContainerCounters counters;

  std::string PodKey() const { return namespace_name + "/" + pod_name; }
};

using ContainerTable = std::map<ContainerKey, ManagedContainer>;

// Counters and histograms that the reconciler and the event loop fill for the snapshot.
struct EnforcementStats {
  std::map<std::string, uint64_t> drift_detected;  // By kind: cpuset, outside, shared.
  std::map<std::string, uint64_t> repins;          // By reason.
  uint64_t pin_conflicts = 0;
  HistogramState pin_latency;
  HistogramState repair_latency;
  std::vector<Violation> recent_violations;  // Newest last, at most kMaxViolations.

  static constexpr size_t kMaxViolations = 64;
  void AddViolation(Violation violation);
};

// Bucket bounds of the latency histograms, in seconds.
std::vector<double> LatencyBuckets();

}  // namespace numapin
