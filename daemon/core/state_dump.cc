// The state dump: the snapshot's shown values, their JSON text and the atomic write.
#include "daemon/core/state_dump.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace numapin {

DumpedState DumpedStateOf(const DaemonSnapshot& snapshot) {
  DumpedState state;
  state.mode = snapshot.mode;
  state.first_sync_done = snapshot.first_sync_done;
  state.monitor_up = snapshot.monitor_up;
  state.cpu_manager_state_valid = snapshot.cpu_manager_state_valid;
  state.drift_detected = snapshot.drift_detected;
  state.repins = snapshot.repins;
  state.pin_conflicts = snapshot.pin_conflicts;
  state.allocation_failures = snapshot.allocation_failures;
  state.pin_latency_count = snapshot.pin_latency.count;
  state.pin_latency_sum = snapshot.pin_latency.sum;
  state.repair_latency_count = snapshot.repair_latency.count;
  state.repair_latency_sum = snapshot.repair_latency.sum;
  state.containers.reserve(snapshot.containers.size());
  for (const ContainerState& container : snapshot.containers) {
    state.containers.push_back({container.namespace_name, container.pod, container.pod_uid,
                                container.container, container.container_id, container.exclusive,
                                container.cpus, container.mems, container.numa_nodes,
                                container.cgroup_path, container.pin_conflict, container.error});
  }
  return state;
}

std::string DumpText(const DumpedState& state) {
  nlohmann::json root;
  root["mode"] = state.mode;
  root["first_sync_done"] = state.first_sync_done;
  root["monitor_up"] = state.monitor_up;
  root["cpu_manager_state_valid"] = state.cpu_manager_state_valid;
  root["drift_detected"] = state.drift_detected;
  root["repins"] = state.repins;
  root["pin_conflicts"] = state.pin_conflicts;
  root["allocation_failures"] = state.allocation_failures;
  root["pin_latency_count"] = state.pin_latency_count;
  root["pin_latency_sum"] = state.pin_latency_sum;
  root["repair_latency_count"] = state.repair_latency_count;
  root["repair_latency_sum"] = state.repair_latency_sum;
  nlohmann::json containers = nlohmann::json::array();
  for (const DumpedContainer& container : state.containers) {
    containers.push_back({{"pod", container.namespace_name + "/" + container.pod},
                          {"uid", container.pod_uid},
                          {"container", container.container},
                          {"container_id", container.container_id},
                          {"exclusive", container.exclusive},
                          {"cpus", container.cpus.ToString()},
                          {"mems", container.mems.ToString()},
                          {"numa_nodes", container.numa_nodes.ToString()},
                          {"cgroup", container.cgroup_path},
                          {"pin_conflict", container.pin_conflict},
                          {"error", container.error}});
  }
  root["containers"] = containers;
  return root.dump(1);
}

absl::Status WriteDump(const std::string& path, const std::string& text) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  auto failed = [](const std::string& what, const std::string& file) {
    return absl::UnavailableError(absl::StrCat(what, " ", file, " failed: ", std::strerror(errno),
                                               "; fix --dump-state-file"));
  };
  FILE* out = std::fopen(temporary.c_str(), "w");
  if (out == nullptr) return failed("creating", temporary);

  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) {
    absl::Status status = failed("writing", temporary);
    std::remove(temporary.c_str());
    return status;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0)
    return failed("renaming the dump to", path);
  return absl::OkStatus();
}

}  // namespace numapin
