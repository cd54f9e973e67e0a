// SchedMonitor over the eBPF scheduler monitor (bpf::Monitor).
#include <memory>

#include "bpf/monitor.h"
#include "daemon/core/monitor_port.h"

namespace numapin {
namespace {

class BpfSchedMonitor : public SchedMonitor {
 public:
  explicit BpfSchedMonitor(std::unique_ptr<bpf::Monitor> monitor) : monitor_(std::move(monitor)) {}

  absl::Status SetCpu(int cpu, int numa_node, std::optional<uint32_t> owner_slot) override {
    return monitor_->SetCpu(cpu, numa_node, owner_slot);
  }

  absl::Status TrackCgroup(uint64_t cgroup_id, uint32_t slot, const CpuSet& cpus,
                           const CpuSet& numa_nodes) override {
    return monitor_->TrackCgroup(cgroup_id, slot, cpus, numa_nodes);
  }

  absl::Status UntrackCgroup(uint64_t cgroup_id) override {
    return monitor_->UntrackCgroup(cgroup_id);
  }

  absl::StatusOr<MonitorCounters> ReadCounters() override {
    absl::StatusOr<bpf::CounterSnapshot> snapshot = monitor_->ReadCounters();
    if (!snapshot.ok()) return snapshot.status();
    MonitorCounters counters;
    for (const bpf::SlotTotals& slot : snapshot->slots) {
      counters.slots.push_back({slot.allowed_ns, slot.outside_ns, slot.remote_numa_ns,
                                slot.switches_in, slot.migrations, slot.cross_numa_migrations});
    }
    for (const bpf::CpuForeign& cpu : snapshot->cpus) {
      counters.cpus.push_back({cpu.kthread_ns, cpu.tracked_ns, cpu.host_ns});
    }
    // Rate-limited events are held back on purpose inside the programs; only a full ring
    // buffer loses events the daemon should have seen.
    counters.events_dropped = snapshot->drops_ringbuf_full;
    return counters;
  }

  int event_fd() const override { return monitor_->event_fd(); }

  absl::StatusOr<int> Consume(const std::function<void(const MonitorEvent&)>& callback) override {
    return monitor_->Consume([&](const bpf::ViolationEvent& event) {
      MonitorEvent out;
      out.slot = event.slot;
      out.cpu = event.cpu;
      out.pid = event.pid;
      out.tgid = event.tgid;
      out.cgroup_id = event.cgroup_id;
      out.monotonic_ns = event.timestamp_ns;
      out.comm = event.comm;
      callback(out);
    });
  }

  uint32_t max_slots() const override { return monitor_->options().max_slots; }

 private:
  std::unique_ptr<bpf::Monitor> monitor_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SchedMonitor>> StartBpfMonitor(bool v1_cpuset) {
  bpf::MonitorOptions options;
  options.cgroup_mode = v1_cpuset ? bpf::CgroupMode::kV1Cpuset : bpf::CgroupMode::kV2;
  absl::StatusOr<std::unique_ptr<bpf::Monitor>> monitor = bpf::Monitor::Start(options);
  if (!monitor.ok()) return monitor.status();
  return std::make_unique<BpfSchedMonitor>(*std::move(monitor));
}

}  // namespace numapin
