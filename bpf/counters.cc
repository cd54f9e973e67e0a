// Builds counter snapshots from per-CPU map values and masks from CPU and node lists.
#include "bpf/counters.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace numapin::bpf {
namespace {

template <typename T>
T ValueOfCpu(std::span<const std::byte> per_cpu_values, int cpu) {
  T value;
  std::memcpy(&value, per_cpu_values.data() + cpu * PerCpuStride(sizeof(T)), sizeof(T));
  return value;
}

}  // namespace

SlotTotals SumSlotCounters(std::span<const std::byte> per_cpu_values, int num_cpus) {
  SlotTotals totals;
  if (per_cpu_values.size() < num_cpus * PerCpuStride(sizeof(numapin_slot_counters))) {
    return totals;
  }
  for (int cpu = 0; cpu < num_cpus; ++cpu) {
    auto value = ValueOfCpu<numapin_slot_counters>(per_cpu_values, cpu);
    totals.allowed_ns += value.allowed_ns;
    totals.outside_ns += value.outside_ns;
    totals.remote_numa_ns += value.remote_numa_ns;
    totals.switches_in += value.switches_in;
    totals.migrations += value.migrations;
    totals.cross_numa_migrations += value.cross_numa_migrations;
    totals.violations += value.violations;
  }
  return totals;
}

void AddCpuCounters(std::span<const std::byte> per_cpu_values, int num_cpus,
                    CounterSnapshot& snapshot) {
  if (per_cpu_values.size() < num_cpus * PerCpuStride(sizeof(numapin_cpu_data))) return;
  if (snapshot.cpus.size() < static_cast<size_t>(num_cpus)) snapshot.cpus.resize(num_cpus);

  for (int cpu = 0; cpu < num_cpus; ++cpu) {
    auto value = ValueOfCpu<numapin_cpu_data>(per_cpu_values, cpu).counters;
    snapshot.cpus[cpu].kthread_ns += value.foreign_kthread_ns;
    snapshot.cpus[cpu].tracked_ns += value.foreign_tracked_ns;
    snapshot.cpus[cpu].host_ns += value.foreign_host_ns;
    snapshot.events_sent += value.events_sent;
    snapshot.drops_rate_limited += value.drops_rate_limited;
    snapshot.drops_ringbuf_full += value.drops_ringbuf_full;
    snapshot.unattributed_switches += value.unattributed_switches;
  }
}

absl::StatusOr<CpuMask> BuildCpuMask(const CpuSet& cpus) {
  CpuMask mask{};
  for (int cpu : cpus.ToVector()) {
    if (cpu >= NUMAPIN_MAX_CPUS) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CPU %d is outside the monitor's range 0-%d; pass OS CPU indexes of this machine", cpu,
          NUMAPIN_MAX_CPUS - 1));
    }
    mask[cpu / 64] |= uint64_t{1} << (cpu % 64);
  }
  return mask;
}

absl::StatusOr<uint64_t> BuildNodeMask(const CpuSet& nodes) {
  uint64_t mask = 0;
  for (int node : nodes.ToVector()) {
    if (node >= NUMAPIN_MAX_NUMA_NODES) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "NUMA node %d is outside the monitor's range 0-%d", node, NUMAPIN_MAX_NUMA_NODES - 1));
    }
    mask |= uint64_t{1} << node;
  }
  return mask;
}

}  // namespace numapin::bpf
