// The daemon's side of the eBPF monitor: tracked cgroups and CPU owners kept in step with the
// container table, violation events turned into drift and re-pins, counters read every tick.
#include <time.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "daemon/core/daemon.h"

namespace numapin {
namespace {

absl::Time FromMonotonic(uint64_t monotonic_ns) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const int64_t now_ns = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  return absl::Now() - absl::Nanoseconds(now_ns - static_cast<int64_t>(monotonic_ns));
}

}  // namespace

void Daemon::SyncMonitor() {
  if (monitor_ == nullptr) return;
  std::map<int, std::optional<uint32_t>> owners;
  topology_.assignable_cpus().ForEach([&](int cpu) { owners[cpu] = std::nullopt; });

  for (auto& [key, container] : containers_) {
    if (container.cgroup_id == 0 || container.terminated) continue;
    if (container.slot < 0) {
      if (free_slots_.empty()) {
        uint64_t suppressed = 0;
        if (log_limiter_.Allow("slots", absl::Now(), &suppressed)) {
          log::Warning("No free monitor slot; container is not tracked",
                       {{"pod", container.PodKey()}, {"container", container.name}});
        }
        continue;
      }
      container.slot = static_cast<int>(free_slots_.back());
      free_slots_.pop_back();
      slot_owner_[container.slot] = key;
    }
    const uint32_t slot = static_cast<uint32_t>(container.slot);
    auto tracked = tracked_.find(container.cgroup_id);
    if (tracked == tracked_.end() || !(tracked->second == container.cpus)) {
      // A restarted container has a new cgroup in the same slot; the old one goes first.
      for (auto it = tracked_.begin(); it != tracked_.end();) {
        if (slot_cgroup_[slot] == it->first && it->first != container.cgroup_id) {
          monitor_->UntrackCgroup(it->first).IgnoreError();
          it = tracked_.erase(it);
        } else {
          ++it;
        }
      }
      absl::Status status = monitor_->TrackCgroup(container.cgroup_id, slot, container.cpus,
                                                  topology_.NodesOf(container.cpus));
      if (!status.ok()) {
        log::Error("Tracking cgroup in the monitor failed",
                   {{"pod", container.PodKey()}, {"container", container.name},
                    {"error", status}});
        continue;
      }
      tracked_[container.cgroup_id] = container.cpus;
      slot_cgroup_[slot] = container.cgroup_id;
    }
    if (container.exclusive) {
      container.cpus.ForEach([&](int cpu) { owners[cpu] = slot; });
    }
  }

  for (const auto& [cpu, owner] : owners) {
    auto pushed = cpu_owner_pushed_.find(cpu);
    if (pushed != cpu_owner_pushed_.end() && pushed->second == owner) continue;
    absl::Status status = monitor_->SetCpu(cpu, topology_.NodeOf(cpu), owner);
    if (!status.ok()) {
      log::Error("Setting CPU owner in the monitor failed", {{"cpu", cpu}, {"error", status}});
      continue;
    }
    cpu_owner_pushed_[cpu] = owner;
  }
}

void Daemon::ReleaseSlot(ManagedContainer& container) {
  if (monitor_ == nullptr || container.slot < 0) return;
  const uint32_t slot = static_cast<uint32_t>(container.slot);
  auto cgroup = slot_cgroup_.find(slot);
  if (cgroup != slot_cgroup_.end()) {
    monitor_->UntrackCgroup(cgroup->second).IgnoreError();
    tracked_.erase(cgroup->second);
    slot_cgroup_.erase(cgroup);
  }
  slot_owner_.erase(slot);
  free_slots_.push_back(slot);
  container.slot = -1;
}

void Daemon::OnMonitorEvents() {
  const CpuSet exclusive = ExclusiveCpus();
  std::map<ContainerKey, MonitorEvent> outside;
  std::map<ContainerKey, MonitorEvent> shared;
  absl::StatusOr<int> consumed = monitor_->Consume([&](const MonitorEvent& event) {
    auto owner = slot_owner_.find(event.slot);
    if (owner == slot_owner_.end()) return;
    auto it = containers_.find(owner->second);
    if (it == containers_.end()) return;
    const ManagedContainer& container = it->second;
    if (container.exclusive) {
      outside.emplace(owner->second, event);
    } else if (exclusive.Contains(event.cpu)) {
      shared.emplace(owner->second, event);
    } else {
      return;
    }
    ++intruders_[absl::StrCat("comm=", event.comm, " pid=", event.pid,
                              " cgroup=", container.cgroup_dir)];
  });
  if (!consumed.ok()) {
    log::Error("Reading monitor events failed", {{"error", consumed.status()}});
    return;
  }

  std::vector<ManagedContainer*> scope;
  absl::Time detected = absl::InfinitePast();
  for (auto* batch : {&outside, &shared}) {
    const char* kind = batch == &outside ? "outside" : "shared";
    for (const auto& [key, event] : *batch) {
      ManagedContainer& container = containers_.at(key);
      ++stats_.drift_detected[kind];
      const absl::Time seen = FromMonotonic(event.monotonic_ns);
      if (detected == absl::InfinitePast() || seen < detected) detected = seen;
      Violation violation;
      violation.unix_nanos = absl::ToUnixNanos(seen);
      violation.kind = kind;
      violation.pod = container.PodKey();
      violation.container = container.name;
      violation.cpu = event.cpu;
      violation.pid = event.pid;
      violation.comm = event.comm;
      violation.detail = absl::StrCat("allowed cpus ", container.cpus.ToString());
      stats_.AddViolation(std::move(violation));
      uint64_t suppressed = 0;
      if (log_limiter_.Allow(absl::StrCat("outside/", key.pod_uid, "/", key.name), absl::Now(),
                             &suppressed)) {
        log::Warning("Task ran outside its allocation", {{"kind", kind},
                                                         {"pod", container.PodKey()},
                                                         {"container", container.name},
                                                         {"cpu", event.cpu},
                                                         {"allowed_cpus", container.cpus.ToString()},
                                                         {"pid", event.pid},
                                                         {"comm", event.comm},
                                                         {"suppressed", suppressed}});
      }
      scope.push_back(&container);
    }
  }
  if (scope.empty()) return;
  reconciler_->Run(scope, exclusive, Trigger::kOutside, detected);
  Publish();
}

void Daemon::ReadMonitorCounters() {
  if (monitor_ == nullptr) return;
  absl::StatusOr<MonitorCounters> counters = monitor_->ReadCounters();
  if (!counters.ok()) {
    uint64_t suppressed = 0;
    if (log_limiter_.Allow("counters", absl::Now(), &suppressed)) {
      log::Error("Reading monitor counters failed", {{"error", counters.status()}});
    }
    return;
  }
  const CpuSet exclusive = ExclusiveCpus();
  for (size_t cpu = 0; cpu < counters->cpus.size(); ++cpu) {
    if (!exclusive.Contains(static_cast<int>(cpu))) continue;
    const MonitorCpuForeign& now = counters->cpus[cpu];
    const MonitorCpuForeign before =
        cpu < counters_.cpus.size() ? counters_.cpus[cpu] : MonitorCpuForeign();
    const uint64_t host_ns = now.host_ns - std::min(now.host_ns, before.host_ns);
    const uint64_t kernel_ns = now.kernel_ns - std::min(now.kernel_ns, before.kernel_ns);
    uint64_t suppressed = 0;
    if ((host_ns > 0 || kernel_ns > 0) &&
        log_limiter_.Allow(absl::StrCat("intrusion/", cpu), absl::Now(), &suppressed)) {
      log::Info("Intrusion: foreign tasks ran on an exclusive CPU",
                {{"cpu", static_cast<int>(cpu)},
                 {"host_us", host_ns / 1000},
                 {"kernel_us", kernel_ns / 1000},
                 {"suppressed", suppressed}});
    }
  }
  counters_ = *std::move(counters);
  for (auto& [key, container] : containers_) {
    if (container.slot < 0 || static_cast<size_t>(container.slot) >= counters_.slots.size()) {
      continue;
    }
    const MonitorSlotCounters& slot = counters_.slots[container.slot];
    container.counters.allowed_ns = slot.allowed_ns;
    container.counters.outside_ns = slot.outside_ns;
    container.counters.remote_numa_ns = slot.remote_numa_ns;
    container.counters.context_switches = slot.switches_in;
    container.counters.migrations_cross_numa = slot.cross_numa_migrations;
    container.counters.migrations_local =
        slot.migrations - std::min(slot.migrations, slot.cross_numa_migrations);
  }
}

void Daemon::LogTopIntruders() {
  if (intruders_.empty()) return;
  std::vector<std::pair<uint64_t, std::string>> ranked;
  for (const auto& [who, events] : intruders_) ranked.emplace_back(events, who);
  intruders_.clear();
  std::sort(ranked.rbegin(), ranked.rend());
  uint64_t suppressed = 0;
  if (!log_limiter_.Allow("intruders", absl::Now(), &suppressed)) return;
  std::string top;
  for (size_t i = 0; i < ranked.size() && i < 3; ++i) {
    absl::StrAppend(&top, i == 0 ? "" : "; ", ranked[i].second, " events=", ranked[i].first);
  }
  log::Warning("Top tasks running outside their allocation this interval",
               {{"top", top}, {"tasks", ranked.size()}, {"suppressed", suppressed}});
}

}  // namespace numapin
