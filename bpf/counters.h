// Counter snapshot of the scheduler monitor, and the pure code that builds it from per-CPU map
// values and turns CPU and NUMA node lists into the masks the BPF programs read.
#ifndef NUMAPIN_BPF_COUNTERS_H_
#define NUMAPIN_BPF_COUNTERS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "bpf/monitor_abi.h"
#include "policy/cpuset.h"

namespace numapin::bpf {

// Totals of one container slot over all CPUs. Times in nanoseconds.
struct SlotTotals {
  uint64_t allowed_ns = 0;      // on CPUs of the container's assignment
  uint64_t outside_ns = 0;      // on any other CPU
  uint64_t remote_numa_ns = 0;  // on a CPU of a NUMA node that is not the container's
  uint64_t switches_in = 0;
  uint64_t migrations = 0;
  uint64_t cross_numa_migrations = 0;
  uint64_t violations = 0;  // switch-ins and migrations outside the assignment, sent or dropped
};

// Run time of foreign tasks on one CPU while a container owns it, by kind of task.
struct CpuForeign {
  uint64_t kthread_ns = 0;
  uint64_t tracked_ns = 0;  // tasks of other tracked containers
  uint64_t host_ns = 0;
};

struct CounterSnapshot {
  std::vector<SlotTotals> slots;  // indexed by slot
  std::vector<CpuForeign> cpus;   // indexed by possible CPU
  uint64_t events_sent = 0;
  uint64_t drops_rate_limited = 0;
  uint64_t drops_ringbuf_full = 0;
  // Switches whose outgoing task was not seen switching in, so its slice is not counted.
  uint64_t unattributed_switches = 0;
};

using CpuMask = std::array<uint64_t, NUMAPIN_CPU_MASK_WORDS>;

// Bytes between two CPUs' copies in a per-CPU map value buffer: the kernel rounds each copy up
// to 8 bytes.
constexpr size_t PerCpuStride(size_t value_size) { return (value_size + 7) / 8 * 8; }

// Sums the per-CPU copies of one slot's counters, as a PERCPU_ARRAY lookup returns them.
SlotTotals SumSlotCounters(std::span<const std::byte> per_cpu_values, int num_cpus);

// Adds each CPU's counters to snapshot.cpus[cpu] and to the snapshot's event and drop totals.
void AddCpuCounters(std::span<const std::byte> per_cpu_values, int num_cpus,
                    CounterSnapshot& snapshot);

// Builds the allowed-CPU bitmask. Rejects CPUs at or above NUMAPIN_MAX_CPUS.
absl::StatusOr<CpuMask> BuildCpuMask(const CpuSet& cpus);

// Builds the NUMA node bitmask. Rejects nodes at or above NUMAPIN_MAX_NUMA_NODES.
absl::StatusOr<uint64_t> BuildNodeMask(const CpuSet& nodes);

}  // namespace numapin::bpf

#endif  // NUMAPIN_BPF_COUNTERS_H_
