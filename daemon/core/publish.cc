// Snapshot building and publishing, plus the optional JSON dump (--dump-state-file) that tests
// and the demo read.
#include "daemon/core/daemon.h"

namespace numapin {

std::shared_ptr<DaemonSnapshot> Daemon::BuildSnapshot() const {
  auto snapshot = std::make_shared<DaemonSnapshot>();
  snapshot->node_name = options_.node_name;
  snapshot->mode = options_.mode == DaemonMode::kAllocate ? "allocate" : "observe";
  snapshot->taken_unix_nanos = absl::ToUnixNanos(absl::Now());
  snapshot->topology_loaded = true;
  snapshot->checkpoint_loaded = checkpoint_loaded_;
  snapshot->first_sync_done = first_sync_done_;
  snapshot->monitor_up = monitor_ != nullptr;
  snapshot->cpu_manager_state_valid = cpu_manager_state_valid_;

  std::map<int, int> owner_index;
  for (const auto& [key, container] : containers_) {
    ContainerState state;
    state.pod_uid = container.pod_uid;
    state.namespace_name = container.namespace_name;
    state.pod = container.pod_name;
    state.container = container.name;
    state.container_id = container.container_id;
    state.cgroup_path =
        container.cgroup_dir.empty() ? "" : cpuset_files_->AbsolutePath(container.cgroup_dir);
    state.exclusive = container.exclusive;
    state.cpus = container.cpus;
    state.mems = container.mems.value_or(CpuSet());
    state.numa_nodes = container.exclusive ? container.assignment.numa_nodes : CpuSet();
    state.pin_conflict = container.limiter.conflict();
    state.error = container.error;
    state.counters = container.counters;
    const int index = static_cast<int>(snapshot->containers.size());
    if (container.exclusive) {
      container.cpus.ForEach([&](int cpu) { owner_index[cpu] = index; });
    }
    snapshot->containers.push_back(std::move(state));
  }

  const CpuSet reserved = options_.allocator.reserved_cpus;
  topology_.assignable_cpus().Union(reserved).ForEach([&](int cpu) {
    CpuState state;
    state.cpu = cpu;
    state.numa_node = topology_.NodeOf(cpu);
    auto owner = owner_index.find(cpu);
    if (owner != owner_index.end()) {
      state.owner = CpuOwner::kExclusive;
      state.owner_container = owner->second;
    } else if (reserved.Contains(cpu)) {
      state.owner = CpuOwner::kReserved;
    }
    if (static_cast<size_t>(cpu) < counters_.cpus.size()) {
      state.foreign_host_ns = counters_.cpus[cpu].host_ns;
      state.foreign_kernel_ns = counters_.cpus[cpu].kernel_ns;
      state.foreign_container_ns = counters_.cpus[cpu].container_ns;
    }
    snapshot->cpus.push_back(state);
  });

  snapshot->allocation_failures = allocation_failures_;
  snapshot->drift_detected = stats_.drift_detected;
  snapshot->repins = stats_.repins;
  snapshot->pod_source_errors = pod_source_errors_;
  snapshot->pin_conflicts = stats_.pin_conflicts;
  snapshot->bpf_events_dropped = counters_.events_dropped;
  snapshot->checkpoint_write_failures = checkpoint_write_failures_;
  snapshot->pin_latency = stats_.pin_latency;
  snapshot->repair_latency = stats_.repair_latency;
  snapshot->recent_violations = stats_.recent_violations;
  return snapshot;
}

void Daemon::Publish() {
  std::shared_ptr<DaemonSnapshot> snapshot = BuildSnapshot();
  if (!options_.dump_state_file.empty()) {
    // The dump has no counters, so most read-back ticks leave it as it was. Rendering and
    // rewriting it every second took a third of the idle daemon's CPU with 500 containers, so it
    // is rendered only when the values it shows changed.
    DumpedState dumped = DumpedStateOf(*snapshot);
    if (!last_dump_.has_value() || !(dumped == *last_dump_)) {
      absl::Status written = WriteDump(options_.dump_state_file, DumpText(dumped));
      uint64_t suppressed = 0;
      if (written.ok()) {
        last_dump_ = std::move(dumped);
      } else if (log_limiter_.Allow("dump_state_file", absl::Now(), &suppressed)) {
        log::Warning(
            "Writing the state dump failed",
            {{"path", options_.dump_state_file}, {"error", written}, {"suppressed", suppressed}});
      }
    }
  }
  if (publish_hook_) publish_hook_(*snapshot);
  box_->Publish(std::move(snapshot));
}

}  // namespace numapin
