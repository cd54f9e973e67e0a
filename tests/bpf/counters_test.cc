// Snapshot summing and mask building of the scheduler monitor, without a kernel.
#include "bpf/counters.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace numapin::bpf {
namespace {

template <typename T>
std::vector<std::byte> PerCpuBuffer(const std::vector<T>& values) {
  std::vector<std::byte> buffer(values.size() * PerCpuStride(sizeof(T)));
  for (size_t cpu = 0; cpu < values.size(); ++cpu) {
    std::memcpy(buffer.data() + cpu * PerCpuStride(sizeof(T)), &values[cpu], sizeof(T));
  }
  return buffer;
}

TEST(PerCpuStride, RoundsUpToEightBytes) {
  EXPECT_EQ(PerCpuStride(8), 8u);
  EXPECT_EQ(PerCpuStride(12), 16u);
  EXPECT_EQ(PerCpuStride(sizeof(numapin_slot_counters)), 56u);
}

TEST(SumSlotCounters, AddsEveryCpu) {
  std::vector<numapin_slot_counters> values(3);
  values[0] = {100, 1, 2, 3, 4, 5, 6};
  values[1] = {200, 10, 20, 30, 40, 50, 60};
  values[2] = {300, 100, 200, 300, 400, 500, 600};

  SlotTotals totals = SumSlotCounters(PerCpuBuffer(values), 3);
  EXPECT_EQ(totals.allowed_ns, 600u);
  EXPECT_EQ(totals.outside_ns, 111u);
  EXPECT_EQ(totals.remote_numa_ns, 222u);
  EXPECT_EQ(totals.switches_in, 333u);
  EXPECT_EQ(totals.migrations, 444u);
  EXPECT_EQ(totals.cross_numa_migrations, 555u);
  EXPECT_EQ(totals.violations, 666u);
}

TEST(SumSlotCounters, ShortBufferGivesZero) {
  std::vector<numapin_slot_counters> values(1);
  values[0].allowed_ns = 5;
  SlotTotals totals = SumSlotCounters(PerCpuBuffer(values), 2);
  EXPECT_EQ(totals.allowed_ns, 0u);
}

TEST(AddCpuCounters, KeepsCpusApartAndSumsDrops) {
  std::vector<numapin_cpu_data> values(2);
  values[0].counters = {1, 2, 3, 4, 5, 6, 7};
  values[1].counters = {10, 20, 30, 40, 50, 60, 70};
  values[1].current_runtime_ns = 12345;

  CounterSnapshot snapshot;
  AddCpuCounters(PerCpuBuffer(values), 2, snapshot);
  ASSERT_EQ(snapshot.cpus.size(), 2u);
  EXPECT_EQ(snapshot.cpus[0].kthread_ns, 1u);
  EXPECT_EQ(snapshot.cpus[0].tracked_ns, 2u);
  EXPECT_EQ(snapshot.cpus[0].host_ns, 3u);
  EXPECT_EQ(snapshot.cpus[1].kthread_ns, 10u);
  EXPECT_EQ(snapshot.cpus[1].tracked_ns, 20u);
  EXPECT_EQ(snapshot.cpus[1].host_ns, 30u);
  EXPECT_EQ(snapshot.events_sent, 44u);
  EXPECT_EQ(snapshot.drops_rate_limited, 55u);
  EXPECT_EQ(snapshot.drops_ringbuf_full, 66u);
  EXPECT_EQ(snapshot.unattributed_switches, 77u);
}

TEST(BuildCpuMask, SetsOneBitPerCpu) {
  auto mask = BuildCpuMask({0, 3, 64, 1023});
  ASSERT_TRUE(mask.ok()) << mask.status();
  EXPECT_EQ((*mask)[0], 0b1001u);
  EXPECT_EQ((*mask)[1], 1u);
  EXPECT_EQ((*mask)[NUMAPIN_CPU_MASK_WORDS - 1], uint64_t{1} << 63);
}

TEST(BuildCpuMask, RejectsCpuOutOfRange) {
  EXPECT_TRUE(absl::IsInvalidArgument(BuildCpuMask({NUMAPIN_MAX_CPUS}).status()));
}

TEST(BuildCpuMask, EmptySetAllowsNoCpu) {
  auto mask = BuildCpuMask(CpuSet());
  ASSERT_TRUE(mask.ok()) << mask.status();
  for (uint64_t word : *mask) EXPECT_EQ(word, 0u);
}

TEST(BuildNodeMask, SetsNodesAndRejectsOutOfRange) {
  auto mask = BuildNodeMask({0, 2});
  ASSERT_TRUE(mask.ok()) << mask.status();
  EXPECT_EQ(*mask, 0b101u);
  EXPECT_TRUE(absl::IsInvalidArgument(BuildNodeMask({NUMAPIN_MAX_NUMA_NODES}).status()));
}

}  // namespace
}  // namespace numapin::bpf
