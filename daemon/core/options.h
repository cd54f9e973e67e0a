// DaemonOptions: numapind's configuration, filled from the command line by ParseFlags.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/core/log.h"
#include "daemon/pod_source.h"
#include "policy/allocator.h"

namespace numapin {

enum class DaemonMode { kAllocate, kObserve };
enum class Tristate { kAuto, kOn, kOff };
enum class CfsQuotaPolicy { kKeep, kUnlimited };

struct DaemonOptions {
  DaemonMode mode = DaemonMode::kAllocate;
  bool repair = false;  // Observe mode: write the kubelet's desired cpusets back on drift.
  PodSourceOptions pod_source;
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string topology = "host";
  AllocatorOptions allocator;
  Tristate set_mems = Tristate::kAuto;
  CfsQuotaPolicy exclusive_cfs_quota = CfsQuotaPolicy::kKeep;
  std::string state_dir = "/var/lib/numapin";
  std::string cpu_manager_state = "/var/lib/kubelet/cpu_manager_state";
  std::string metrics_address = "127.0.0.1:9460";
  std::string textfile_dir;
  std::string node_name;
  log::Format log_format = log::Format::kText;
  absl::Duration readback_interval = absl::Seconds(1);
  absl::Duration empty_pod_list_wait = absl::Seconds(30);
  Tristate monitor = Tristate::kAuto;
  std::string dump_state_file;  // When set, a JSON summary of each snapshot is written here.

  // Whether cpuset.mems is managed. --set-mems=auto means on in allocate mode with the host's
  // real topology. In observe mode the kubelet owns cpuset.mems (its memory manager sets them,
  // or they stay at the parent's nodes), and cpu_manager_state contains no mems to check against.
  bool ManageMems() const {
    if (set_mems == Tristate::kAuto) return mode == DaemonMode::kAllocate && topology == "host";
    return set_mems == Tristate::kOn;
  }
  // Whether numapind writes cgroups at all.
  bool Writes() const { return mode == DaemonMode::kAllocate || repair; }
};

// Parses argv with absl flags. Errors name the flag and the value.
absl::StatusOr<DaemonOptions> ParseFlags(int argc, char** argv);

}  // namespace numapin
