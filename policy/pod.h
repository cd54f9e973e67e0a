// Pod: the parts of a Kubernetes Pod object (as the API serves it, JSON or YAML) that admission
// and the daemon use, and the kubelet's QoS class computed from them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json_fwd.hpp"

namespace numapin {

enum class QosClass { kGuaranteed, kBurstable, kBestEffort };
const char* QosClassName(QosClass qos);  // "Guaranteed", "Burstable", "BestEffort".

// Resource quantities of one container, as parsed from spec.containers[].resources. CPU is in
// millicores, memory in bytes; nullopt where the field is absent.
struct Resources {
  std::optional<int64_t> cpu_request_millis;
  std::optional<int64_t> cpu_limit_millis;
  std::optional<int64_t> memory_request_bytes;
  std::optional<int64_t> memory_limit_bytes;
  // The CPU quantities as written ("1.5", "1500m"), so that messages quote the input; empty when
  // the value was built by hand.
  std::string cpu_request_text;
  std::string cpu_limit_text;
};

struct ContainerSpec {
  std::string name;
  Resources resources;
  bool init = false;     // From spec.initContainers.
  bool sidecar = false;  // An init container with restartPolicy: Always, which keeps running.
};

// One entry of status.containerStatuses or status.initContainerStatuses.
struct ContainerStatus {
  std::string name;
  std::string container_id;  // As the API gives it: "containerd://<hex>", "cri-o://<hex>", ...
  bool init = false;
  bool running = false;
  bool terminated = false;
};

struct Pod {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::map<std::string, std::string> annotations;
  std::vector<ContainerSpec> init_containers;
  std::vector<ContainerSpec> containers;
  std::vector<ContainerStatus> statuses;  // Init and app container statuses together.
  std::string phase;                      // status.phase, "" when absent.
  bool deleting = false;                  // metadata.deletionTimestamp is set.

  std::string Key() const { return namespace_name + "/" + name; }  // "namespace/name".
};

// Parses one Pod object from JSON or YAML text. Errors name the field and the value.
absl::StatusOr<Pod> ParsePod(absl::string_view text);
absl::StatusOr<Pod> ParsePodJson(const nlohmann::json& object);

// Parses a PodList (kind: PodList, the kubelet's /pods response): every item that parses, and for
// each item that does not, its error in `errors` (one bad pod must not hide the others).
struct PodList {
  std::vector<Pod> pods;
  std::vector<absl::Status> errors;
};
absl::StatusOr<PodList> ParsePodList(absl::string_view text);

// Kubernetes quantities: "2", "2000m", "0.5" for CPU (to millicores; finer than 1m is rejected),
// "1Gi", "512M", "1e9" for memory (to bytes).
absl::StatusOr<int64_t> ParseCpuMillis(absl::string_view quantity);
absl::StatusOr<int64_t> ParseMemoryBytes(absl::string_view quantity);

// The QoS class as the kubelet computes it: Guaranteed when every container, init containers
// included, has CPU and memory limits, and requests equal to them (a missing request defaults to
// its limit).
QosClass ComputeQos(const Pod& pod);

}  // namespace numapin
