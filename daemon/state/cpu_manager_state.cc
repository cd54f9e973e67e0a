// Parsing of the kubelet's cpu_manager_state JSON, current format only.
#include "daemon/state/cpu_manager_state.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace numapin {
namespace {

absl::StatusOr<CpuSet> ParseList(const nlohmann::json& value, absl::string_view where) {
  if (!value.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu_manager_state ", where, " is not a CPU list string: ", value.dump()));
  }
  const std::string text = value.get<std::string>();
  absl::StatusOr<CpuSet> set = CpuSet::Parse(text);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cpu_manager_state ", where, " \"", text,
                                                   "\" is invalid: ", set.status().message()));
  }
  return set;
}

absl::Status ParseEntries(const nlohmann::json& entries, CpuManagerState& state) {
  if (!entries.is_object()) {
    return absl::InvalidArgumentError("cpu_manager_state \"entries\" is not an object");
  }
  for (const auto& [pod_uid, containers] : entries.items()) {
    if (containers.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cpu_manager_state uses the old format keyed by container id (entry \"", pod_uid,
          "\"); this kubelet is older than 1.18, which numapin does not read"));
    }
    if (!containers.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cpu_manager_state entry for pod ", pod_uid, " is not an object"));
    }
    for (const auto& [container, cpus] : containers.items()) {
      absl::StatusOr<CpuSet> set = ParseList(cpus, absl::StrCat("entry ", pod_uid, "/", container));
      if (!set.ok()) return set.status();
      state.entries[pod_uid][container] = *set;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CpuManagerState> ParseCpuManagerState(absl::string_view text) {
  nlohmann::json root = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(
        "cpu_manager_state is not valid JSON; expected the kubelet's checkpoint, an object with "
        "policyName, defaultCpuSet and entries");
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("cpu_manager_state is a JSON ", root.type_name(),
                                                   "; expected an object with policyName, "
                                                   "defaultCpuSet and entries"));
  }
  CpuManagerState state;
  auto policy = root.find("policyName");
  if (policy == root.end() || !policy->is_string()) {
    return absl::InvalidArgumentError("cpu_manager_state has no \"policyName\" string");
  }
  state.policy_name = policy->get<std::string>();
  if (state.policy_name != "static") {
    return absl::FailedPreconditionError(
        absl::StrCat("cpu_manager_state policy is \"", state.policy_name,
                     "\"; observe mode needs the kubelet's --cpu-manager-policy=static"));
  }
  auto shared = root.find("defaultCpuSet");
  if (shared != root.end()) {
    absl::StatusOr<CpuSet> set = ParseList(*shared, "defaultCpuSet");
    if (!set.ok()) return set.status();
    state.default_cpuset = *set;
  }
  auto entries = root.find("entries");
  if (entries != root.end() && !entries->is_null()) {
    absl::Status status = ParseEntries(*entries, state);
    if (!status.ok()) return status;
  }
  return state;
}

absl::StatusOr<CpuManagerState> ReadCpuManagerState(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int saved = errno;
    if (saved == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          path,
          " does not exist; point --cpu-manager-state at the kubelet's cpu_manager_state, "
          "which a kubelet with cpuManagerPolicy static writes"));
    }
    return absl::InternalError(absl::StrCat("opening ", path, " failed: ", std::strerror(saved)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<CpuManagerState> state = ParseCpuManagerState(text.str());
  if (!state.ok()) {
    return absl::Status(state.status().code(), absl::StrCat(path, ": ", state.status().message()));
  }
  return state;
}

}  // namespace numapin
