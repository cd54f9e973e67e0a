// Admission: which containers of a pod ask for exclusive CPUs, how many, and on which NUMA node.
// Pure: reads the Pod value and the Topology only.
//
// numapin cannot reject a pod the way the kubelet's admission does. A container that does not
// qualify, or whose request cannot be met, runs in the shared pool, and its decision carries an
// error naming the pod, the field, the value and what was expected.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "policy/pod.h"
#include "policy/topology.h"

namespace numapin {

enum class NumaPolicy {
  kPreferred,  // Prefer the named (or best-fit) node, else the fewest, closest nodes.
  kStrict,     // Only the named node, or one single node when none is named.
};

struct ContainerRequest {
  std::string container;
  bool init = false;
  bool sidecar = false;
  int exclusive_cpus = 0;  // 0: the container runs in the shared pool.
  // The reason a container of a Guaranteed pod does not get exclusive CPUs (a request of "1.5").
  // OK when it never requested them, as every container of a Burstable pod.
  absl::Status error;
};

struct PodRequest {
  std::string pod_uid;
  std::string pod_key;  // "namespace/name".
  QosClass qos = QosClass::kBestEffort;
  std::optional<int> preferred_node;  // From the PreferredNUMANodeId annotation.
  NumaPolicy numa_policy = NumaPolicy::kPreferred;
  // A malformed annotation (PreferredNUMANodeId of "abc", "-1", a node that does not exist or has
  // no CPUs; an unknown numa-policy). The pod then gets no exclusive CPUs.
  absl::Status annotation_error;
  std::vector<ContainerRequest> containers;  // Init containers first, in spec order, then the rest.
};

PodRequest Admit(const Pod& pod, const Topology& topology);

}  // namespace numapin
