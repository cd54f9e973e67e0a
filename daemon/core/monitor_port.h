// SchedMonitor: what the daemon needs from the eBPF scheduler monitor, as an interface, so that
// the event loop runs (and is tested) without BPF. monitor_bpf.cc adapts bpf::Monitor to it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "policy/cpuset.h"

namespace numapin {

struct MonitorSlotCounters {
  uint64_t allowed_ns = 0;
  uint64_t outside_ns = 0;
  uint64_t remote_numa_ns = 0;
  uint64_t switches_in = 0;
  uint64_t migrations = 0;
  uint64_t cross_numa_migrations = 0;
};

struct MonitorCpuForeign {
  uint64_t kernel_ns = 0;
  uint64_t container_ns = 0;
  uint64_t host_ns = 0;
};

struct MonitorCounters {
  std::vector<MonitorSlotCounters> slots;  // Indexed by slot.
  std::vector<MonitorCpuForeign> cpus;     // Indexed by CPU.
  uint64_t events_dropped = 0;
};

// A tracked task ran on, or was moved to, a CPU outside its container's allowed CPUs.
struct MonitorEvent {
  uint32_t slot = 0;
  int cpu = -1;
  int pid = 0;
  int tgid = 0;
  uint64_t cgroup_id = 0;
  uint64_t monotonic_ns = 0;
  std::string comm;
};

class SchedMonitor {
 public:
  virtual ~SchedMonitor() = default;
  virtual absl::Status SetCpu(int cpu, int numa_node, std::optional<uint32_t> owner_slot) = 0;
  virtual absl::Status TrackCgroup(uint64_t cgroup_id, uint32_t slot, const CpuSet& cpus,
                                   const CpuSet& numa_nodes) = 0;
  virtual absl::Status UntrackCgroup(uint64_t cgroup_id) = 0;
  virtual absl::StatusOr<MonitorCounters> ReadCounters() = 0;
  virtual int event_fd() const = 0;
  virtual absl::StatusOr<int> Consume(const std::function<void(const MonitorEvent&)>& callback) = 0;
  virtual uint32_t max_slots() const = 0;
};

// Loads the BPF monitor; Unimplemented when numapind was built without it. `v1_cpuset` picks
// the cgroup that identifies a task's container: its v1 cpuset cgroup, else its v2 cgroup.
absl::StatusOr<std::unique_ptr<SchedMonitor>> StartBpfMonitor(bool v1_cpuset);

}  // namespace numapin
