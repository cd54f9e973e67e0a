// MakeTestSnapshot: deterministic fake daemon state with every field filled in.
#include "tests/fakes/snapshot_fixture.h"

#include <string>

namespace numapin {
namespace {

constexpr int kCpusPerExclusiveContainer = 2;

void AddCpus(const SnapshotShape& shape, DaemonSnapshot& s) {
  int per_node = std::max(1, shape.cpus / std::max(1, shape.numa_nodes));
  for (int cpu = 0; cpu < shape.cpus; ++cpu) {
    CpuState& state = s.cpus.emplace_back();
    state.cpu = cpu;
    state.numa_node = std::min(cpu / per_node, shape.numa_nodes - 1);
    state.owner = cpu < shape.reserved_cpus ? CpuOwner::kReserved : CpuOwner::kShared;
    state.foreign_host_ns = 1000000ull * cpu;
    state.foreign_kernel_ns = 500000ull * cpu;
  }
}

// Gives container `index` the next free non-reserved CPUs, if enough are left.
void AssignExclusive(int index, int& next_cpu, DaemonSnapshot& s) {
  ContainerState& c = s.containers[index];
  if (next_cpu + kCpusPerExclusiveContainer > static_cast<int>(s.cpus.size())) return;
  c.exclusive = true;
  c.cpus.Clear();
  for (int i = 0; i < kCpusPerExclusiveContainer; ++i, ++next_cpu) {
    CpuState& cpu = s.cpus[next_cpu];
    cpu.owner = CpuOwner::kExclusive;
    cpu.owner_container = index;
    cpu.foreign_container_ns = 250000ull * next_cpu;
    c.cpus.Add(cpu.cpu);
    c.numa_nodes.Add(cpu.numa_node);
  }
  c.mems = c.numa_nodes;
}

}  // namespace

DaemonSnapshot MakeTestSnapshot(const SnapshotShape& shape) {
  DaemonSnapshot s;
  s.node_name = "worker-1";
  s.mode = "allocate";
  s.taken_unix_nanos = 1700000000000000000;
  s.topology_loaded = s.checkpoint_loaded = s.first_sync_done = true;
  s.monitor_up = true;
  AddCpus(shape, s);

  CpuSet shared;
  for (const CpuState& cpu : s.cpus) {
    if (cpu.owner == CpuOwner::kShared) shared.Add(cpu.cpu);
  }

  int next_cpu = shape.reserved_cpus;
  for (int i = 0; i < shape.containers; ++i) {
    ContainerState& c = s.containers.emplace_back();
    std::string n = std::to_string(i);
    c.pod_uid =
        "6f1c2a9e-0000-4000-8000-" + std::string(12 - std::min<size_t>(12, n.size()), '0') + n;
    c.namespace_name = i % 2 == 0 ? "default" : "trading";
    c.pod = "pod-" + n;
    c.container = i % 4 == 3 ? "sidecar" : "app";
    c.container_id = "containerd://" + std::string(56, 'a') + n;
    c.cgroup_path = "/sys/fs/cgroup/kubepods.slice/pod" + n;
    c.counters = {.allowed_ns = 2000000000ull + i,
                  .outside_ns = 1000000ull * i,
                  .remote_numa_ns = 300000ull * i,
                  .context_switches = 100ull * i,
                  .migrations_local = 10ull * i,
                  .migrations_cross_numa = static_cast<uint64_t>(i)};
    c.cpus = shared;
    if (i % 3 != 2) AssignExclusive(i, next_cpu, s);
    if (!c.exclusive && i % 3 != 2) c.error = "not enough free CPUs";
  }
  // Exclusive assignments shrink the shared pool that shared containers see.
  for (const CpuState& cpu : s.cpus) {
    if (cpu.owner != CpuOwner::kShared) shared.Remove(cpu.cpu);
  }
  for (ContainerState& c : s.containers) {
    if (!c.exclusive) c.cpus = shared;
  }
  if (!s.containers.empty()) s.containers[0].pin_conflict = true;

  s.allocation_failures = {{"not_guaranteed", 4}, {"insufficient_cpus", 1}};
  s.drift_detected = {{"cpuset", 3}};
  s.repins = {{"new", static_cast<uint64_t>(shape.containers)}, {"cpuset", 3}};
  s.pod_source_errors = {{"kubelet", 2}};
  s.pin_conflicts = 1;
  s.bpf_events_dropped = 7;
  s.checkpoint_write_failures = 0;

  s.pin_latency = HistogramState::WithLatencyBuckets();
  s.repair_latency = HistogramState::WithLatencyBuckets();
  for (double seconds : {0.0004, 0.002, 0.002, 0.03, 12.0}) s.pin_latency.Observe(seconds);
  s.repair_latency.Observe(0.008);

  for (int i = 0; i < shape.violations; ++i) {
    Violation& v = s.recent_violations.emplace_back();
    v.unix_nanos = s.taken_unix_nanos - (shape.violations - i) * 1000000000ll;
    v.kind = i % 2 == 0 ? "outside" : "intrusion";
    v.pod = i % 2 == 0 ? "default/pod-0" : "";
    v.container = i % 2 == 0 ? "app" : "";
    v.cpu = shape.reserved_cpus + i % 2;
    v.pid = 4242 + i;
    v.comm = i % 2 == 0 ? "worker" : "kworker/3:1";
    v.detail = i % 2 == 0 ? "ran outside its exclusive CPUs" : "host task ran on an exclusive CPU";
  }
  return s;
}

}  // namespace numapin
