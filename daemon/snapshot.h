// DaemonSnapshot: an immutable copy of the daemon's state that the event loop publishes after
// every change. HTTP handlers (/metrics, /status, /readyz) and the textfile writer read only a
// snapshot, so that they never block the loop or see a half-made change.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policy/cpuset.h"

namespace numapin {

// Monitor counters of one tracked container, summed over CPUs; nanoseconds and counts.
struct ContainerCounters {
  uint64_t allowed_ns = 0;
  uint64_t outside_ns = 0;
  uint64_t remote_numa_ns = 0;
  uint64_t context_switches = 0;
  uint64_t migrations_local = 0;
  uint64_t migrations_cross_numa = 0;
};

struct ContainerState {
  std::string pod_uid;
  std::string namespace_name;
  std::string pod;
  std::string container;
  std::string container_id;
  std::string cgroup_path;  // Empty until the container's cgroup is found.
  bool exclusive = false;
  CpuSet cpus;        // Desired cpuset.cpus: the exclusive CPUs or the shared pool.
  CpuSet mems;        // Desired cpuset.mems; empty when mems are not managed.
  CpuSet numa_nodes;  // Nodes of the exclusive CPUs.
  bool pin_conflict = false;
  std::string error;  // The reason it is not exclusive, when it requested exclusive CPUs.
  ContainerCounters counters;
};

enum class CpuOwner { kShared, kReserved, kExclusive };

struct CpuState {
  int cpu = 0;
  int numa_node = 0;
  CpuOwner owner = CpuOwner::kShared;
  int owner_container = -1;  // Index into DaemonSnapshot::containers when exclusive.
  uint64_t foreign_host_ns = 0;
  uint64_t foreign_kernel_ns = 0;
  uint64_t foreign_container_ns = 0;
};

struct Violation {
  int64_t unix_nanos = 0;
  std::string kind;  // "outside", "cpuset", "shared", "intrusion".
  std::string pod;   // "namespace/name", empty for an intrusion by a host task.
  std::string container;
  int cpu = -1;
  int pid = 0;
  std::string comm;
  std::string detail;
};

// A Prometheus histogram's state: cumulative counts per upper bound, plus sum and count.
struct HistogramState {
  std::vector<double> upper_bounds;  // Seconds.
  std::vector<uint64_t> counts;      // Same length as upper_bounds; not cumulative.
  double sum = 0;
  uint64_t count = 0;

  // Counts one sample into the first bucket whose upper bound is >= seconds (le semantics); a
  // sample above every bound only counts toward the implicit +Inf bucket, sum and count.
  void Observe(double seconds);

  // Bounds from 1 ms to 10 s, for the pin and repair latencies.
  static HistogramState WithLatencyBuckets();
};

struct DaemonSnapshot {
  std::string node_name;
  std::string mode;  // "allocate" or "observe".
  int64_t taken_unix_nanos = 0;

  // /readyz: topology read, checkpoint loaded, first sync with the pod source done.
  bool topology_loaded = false;
  bool checkpoint_loaded = false;
  bool first_sync_done = false;
  bool monitor_up = false;
  bool cpu_manager_state_valid = false;  // Observe mode only.

  std::vector<ContainerState> containers;
  std::vector<CpuState> cpus;

  std::map<std::string, uint64_t> allocation_failures;  // By reason.
  std::map<std::string, uint64_t> drift_detected;       // By kind.
  std::map<std::string, uint64_t> repins;               // By reason.
  std::map<std::string, uint64_t> pod_source_errors;    // By source.
  uint64_t pin_conflicts = 0;
  uint64_t bpf_events_dropped = 0;
  uint64_t checkpoint_write_failures = 0;

  HistogramState pin_latency;
  HistogramState repair_latency;

  std::vector<Violation> recent_violations;  // Newest last, bounded.
};

// The loop publishes; readers take a shared_ptr and keep it as long as they need it.
class SnapshotBox {
 public:
  void Publish(std::shared_ptr<const DaemonSnapshot> snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(snapshot);
  }
  std::shared_ptr<const DaemonSnapshot> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }

  // The loop calls Heartbeat on every turn, even when nothing changed and it publishes no new
  // snapshot, so that /healthz can tell a quiet loop from a stuck one.
  void Heartbeat(int64_t unix_nanos) { heartbeat_unix_nanos_.store(unix_nanos); }
  int64_t heartbeat_unix_nanos() const { return heartbeat_unix_nanos_.load(); }

 private:
  std::atomic<int64_t> heartbeat_unix_nanos_{0};
  mutable std::mutex mutex_;
  std::shared_ptr<const DaemonSnapshot> current_ = std::make_shared<DaemonSnapshot>();
};

}  // namespace numapin
