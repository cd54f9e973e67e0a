// The kubelet's CPU manager checkpoint (/var/lib/kubelet/cpu_manager_state), the desired state
// of observe mode: which exclusive CPUs the kubelet gave each container, and its shared pool.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/cpuset.h"

namespace numapin {

struct CpuManagerState {
  std::string policy_name;
  CpuSet default_cpuset;  // The kubelet's shared pool.
  // Pod uid -> container name -> exclusive CPUs.
  std::map<std::string, std::map<std::string, CpuSet>> entries;
};

// Parses the file's text. Rejects, naming the problem: invalid JSON, a policy other than
// "static" (the "none" policy pins nothing), the pre-1.18 format whose entries are keyed by
// container id, and CPU lists that do not parse. The checksum is not verified because the
// kubelet computes it over its Go structure, not over the text.
absl::StatusOr<CpuManagerState> ParseCpuManagerState(absl::string_view text);

// Reads and parses the file; NotFound when it is missing.
absl::StatusOr<CpuManagerState> ReadCpuManagerState(const std::string& path);

}  // namespace numapin
