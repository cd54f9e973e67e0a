// Builds the /status JSON document from a DaemonSnapshot.
#include "daemon/metrics/status_json.h"

namespace numapin {
namespace {

constexpr double kNanosPerSecond = 1e9;

nlohmann::json ContainerJson(const ContainerState& c) {
  const ContainerCounters& counters = c.counters;
  return {
      {"pod_uid", c.pod_uid},
      {"namespace", c.namespace_name},
      {"pod", c.pod},
      {"container", c.container},
      {"container_id", c.container_id},
      {"cgroup_path", c.cgroup_path},
      {"exclusive", c.exclusive},
      {"cpus", c.cpus.ToString()},
      {"mems", c.mems.ToString()},
      {"numa_nodes", c.numa_nodes.ToString()},
      {"pin_conflict", c.pin_conflict},
      {"error", c.error},
      {"run_seconds",
       {{"allowed", counters.allowed_ns / kNanosPerSecond},
        {"outside", counters.outside_ns / kNanosPerSecond},
        {"remote_numa", counters.remote_numa_ns / kNanosPerSecond}}},
      {"context_switches", counters.context_switches},
      {"migrations",
       {{"local", counters.migrations_local}, {"cross_numa", counters.migrations_cross_numa}}},
  };
}

nlohmann::json CpuJson(const CpuState& cpu) {
  return {
      {"cpu", cpu.cpu},
      {"numa_node", cpu.numa_node},
      {"owner", CpuOwnerName(cpu.owner)},
      {"owner_container", cpu.owner == CpuOwner::kExclusive ? cpu.owner_container : -1},
      {"foreign_run_seconds",
       {{"host", cpu.foreign_host_ns / kNanosPerSecond},
        {"kernel", cpu.foreign_kernel_ns / kNanosPerSecond},
        {"container", cpu.foreign_container_ns / kNanosPerSecond}}},
  };
}

nlohmann::json ViolationJson(const Violation& v) {
  return {{"unix_nanos", v.unix_nanos},
          {"kind", v.kind},
          {"pod", v.pod},
          {"container", v.container},
          {"cpu", v.cpu},
          {"pid", v.pid},
          {"comm", v.comm},
          {"detail", v.detail}};
}

nlohmann::json CountersJson(const DaemonSnapshot& s) {
  return {
      {"allocation_failures", s.allocation_failures},
      {"drift_detected", s.drift_detected},
      {"repins", s.repins},
      {"pod_source_errors", s.pod_source_errors},
      {"pin_conflicts", s.pin_conflicts},
      {"bpf_events_dropped", s.bpf_events_dropped},
      {"checkpoint_write_failures", s.checkpoint_write_failures},
  };
}

}  // namespace

const char* CpuOwnerName(CpuOwner owner) {
  switch (owner) {
    case CpuOwner::kShared:
      return "shared";
    case CpuOwner::kReserved:
      return "reserved";
    case CpuOwner::kExclusive:
      return "exclusive";
  }
  return "unknown";
}

nlohmann::json StatusJson(const DaemonSnapshot& snapshot) {
  nlohmann::json containers = nlohmann::json::array();
  for (const ContainerState& c : snapshot.containers) containers.push_back(ContainerJson(c));
  nlohmann::json cpus = nlohmann::json::array();
  for (const CpuState& cpu : snapshot.cpus) cpus.push_back(CpuJson(cpu));
  nlohmann::json violations = nlohmann::json::array();
  for (const Violation& v : snapshot.recent_violations) violations.push_back(ViolationJson(v));

  return {
      {"node", snapshot.node_name},
      {"mode", snapshot.mode},
      {"taken_unix_nanos", snapshot.taken_unix_nanos},
      {"ready",
       {{"topology_loaded", snapshot.topology_loaded},
        {"checkpoint_loaded", snapshot.checkpoint_loaded},
        {"first_sync_done", snapshot.first_sync_done}}},
      {"monitor_up", snapshot.monitor_up},
      {"cpu_manager_state_valid", snapshot.cpu_manager_state_valid},
      {"containers", std::move(containers)},
      {"cpus", std::move(cpus)},
      {"recent_violations", std::move(violations)},
      {"counters", CountersJson(snapshot)},
  };
}

}  // namespace numapin
