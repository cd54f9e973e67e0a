// Owner of the eBPF scheduler monitor: loads and attaches the programs, writes the CPU and
// container maps, reads the counters and delivers violation events from the ring buffer.
#ifndef NUMAPIN_BPF_MONITOR_H_
#define NUMAPIN_BPF_MONITOR_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bpf/counters.h"

struct numapin_monitor;
struct ring_buffer;

namespace numapin::bpf {

// Cgroup hierarchy whose cgroup identifies a task's container.
enum class CgroupMode {
  kV2,        // the task's cgroup in the unified (v2) hierarchy
  kV1Cpuset,  // the task's cgroup in the v1 cpuset hierarchy
};

// Entry point type to load. kAuto takes tp_btf where the kernel supports it, else raw_tp.
enum class AttachType { kAuto, kTpBtf, kRawTp };

struct MonitorOptions {
  CgroupMode cgroup_mode = CgroupMode::kV2;
  uint32_t max_slots = 256;
  // Violation events per slot and interval; later ones are counted as rate-limited drops.
  uint32_t events_per_interval = 64;
  absl::Duration rate_interval = absl::Seconds(1);
  // Ring-buffer size in bytes: a power of two and a multiple of the page size.
  uint32_t ringbuf_bytes = 256 * 1024;
  AttachType attach = AttachType::kAuto;
};

struct ViolationEvent {
  enum class Kind { kSwitchIn, kMigrate };
  Kind kind = Kind::kSwitchIn;
  uint32_t slot = 0;
  int cpu = -1;       // CPU the task runs on, or is moved to
  int from_cpu = -1;  // CPU it leaves on migration; equal to cpu for a switch-in
  pid_t pid = 0;      // thread id
  pid_t tgid = 0;     // process id
  uint64_t cgroup_id = 0;
  uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC
  std::string comm;
};

// The cgroup id the monitor uses for a cgroup directory: its inode number.
absl::StatusOr<uint64_t> CgroupIdOfPath(const std::string& path);

class Monitor {
 public:
  // Loads and attaches the programs. Every CPU starts on NUMA node 0 without an owner.
  // Errors: FailedPrecondition (no kernel BTF, kernel too old), PermissionDenied (EPERM),
  // InvalidArgument (options, or the verifier rejected a program, with its log tail).
  static absl::StatusOr<std::unique_ptr<Monitor>> Start(const MonitorOptions& options);

  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Sets a CPU's NUMA node and the slot that owns it exclusively (nullopt: shared or unused).
  absl::Status SetCpu(int cpu, int numa_node, std::optional<uint32_t> owner_slot);

  // Tracks the container whose cgroup has this id, and tasks in its descendant cgroups, in
  // `slot`. A new slot starts with zero counters; tracking the same cgroup again in the same
  // slot only replaces its CPUs and NUMA nodes.
  absl::Status TrackCgroup(uint64_t cgroup_id, uint32_t slot, const CpuSet& cpus,
                           const CpuSet& numa_nodes);
  absl::Status UntrackCgroup(uint64_t cgroup_id);

  // Sums the per-CPU counters. Run time is added when a task leaves a CPU, so the slice of a
  // task still running is not in the snapshot yet. Each read also makes the programs rebuild
  // their cgroup -> slot caches, which bounds the life of a stale entry.
  absl::StatusOr<CounterSnapshot> ReadCounters() const;

  // Becomes readable when violation events wait; add it to an epoll set and call Consume.
  int event_fd() const;

  // Delivers every waiting event to `callback` and returns how many there were.
  absl::StatusOr<int> Consume(absl::FunctionRef<void(const ViolationEvent&)> callback);

  // tp_btf or raw_tp: the entry points in use.
  AttachType attach_type() const { return attach_type_; }
  const MonitorOptions& options() const { return options_; }
  // File descriptor of the loaded sched_switch program, e.g. to read its run-time statistics.
  int sched_switch_prog_fd() const;

 private:
  struct SkeletonDeleter {
    void operator()(numapin_monitor* skeleton) const;
  };
  struct RingBufferDeleter {
    void operator()(ring_buffer* ring) const;
  };

  Monitor(const MonitorOptions& options, AttachType attach_type,
          std::unique_ptr<numapin_monitor, SkeletonDeleter> skeleton);
  static absl::StatusOr<std::unique_ptr<Monitor>> StartWith(const MonitorOptions& options,
                                                            AttachType attach_type);
  static int HandleRecord(void* context, void* data, size_t size);
  absl::Status InitCpus();
  absl::Status ResetSlot(uint32_t slot);
  void BumpGeneration() const;

  MonitorOptions options_;
  AttachType attach_type_;
  int num_cpus_;
  std::unique_ptr<numapin_monitor, SkeletonDeleter> skeleton_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  std::map<uint64_t, uint32_t> slot_of_cgroup_;
  std::vector<uint64_t> cgroup_of_slot_;  // 0 where a slot is free
  // Set only while Consume runs.
  const absl::FunctionRef<void(const ViolationEvent&)>* consumer_ = nullptr;
};

}  // namespace numapin::bpf

#endif  // NUMAPIN_BPF_MONITOR_H_
