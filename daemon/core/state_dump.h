// The JSON state dump (--dump-state-file) that tests and the demo read: the parts of a
// DaemonSnapshot it shows, its text, and its atomic write.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/snapshot.h"
#include "policy/cpuset.h"

namespace numapin {

struct DumpedContainer {
  std::string namespace_name;
  std::string pod;
  std::string pod_uid;
  std::string container;
  std::string container_id;
  bool exclusive = false;
  CpuSet cpus;
  CpuSet mems;
  CpuSet numa_nodes;
  std::string cgroup_path;
  bool pin_conflict = false;
  std::string error;

  bool operator==(const DumpedContainer&) const = default;
};

// The values the dump shows. They leave out the monitor's counters, which change on every
// read-back tick. DumpText renders only these, so equal values give the same text.
struct DumpedState {
  std::string mode;
  bool first_sync_done = false;
  bool monitor_up = false;
  bool cpu_manager_state_valid = false;
  std::map<std::string, uint64_t> drift_detected;
  std::map<std::string, uint64_t> repins;
  uint64_t pin_conflicts = 0;
  std::map<std::string, uint64_t> allocation_failures;
  uint64_t pin_latency_count = 0;
  double pin_latency_sum = 0;
  uint64_t repair_latency_count = 0;
  double repair_latency_sum = 0;
  std::vector<DumpedContainer> containers;

  bool operator==(const DumpedState&) const = default;
};

DumpedState DumpedStateOf(const DaemonSnapshot& snapshot);

// Renders the dump as indented JSON.
std::string DumpText(const DumpedState& state);

// Writes `text` to `path` through a temporary file and rename, so that a reader never sees half a
// file. The error names the file and the errno text.
absl::Status WriteDump(const std::string& path, const std::string& text);

}  // namespace numapin
