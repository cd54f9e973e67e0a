// Admission: turns a parsed Pod into per-container requests for exclusive CPUs, checking the
// placement annotations against the topology. Every reason a container stays in the shared pool
// becomes an error that names the pod, the field, the value and what was expected.
#include "policy/admission.h"

#include <charconv>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/allocator.h"

namespace numapin {
namespace {

CpuSet NodesWithCpus(const Topology& topology) {
  CpuSet nodes;
  for (const NumaNode& node : topology.numa_nodes()) {
    if (!node.cpus.Empty()) nodes.Add(node.id);
  }
  return nodes;
}

absl::Status PreferredNodeError(const Pod& pod, absl::string_view value, absl::string_view problem,
                                const Topology& topology) {
  return absl::InvalidArgumentError(
      absl::StrCat("pod ", pod.Key(), ": annotation ", kPreferredNumaNodeAnnotation, " \"", value,
                   "\" ", problem, "; expected the OS index of a NUMA node with CPUs (nodes ",
                   NodesWithCpus(topology).ToString(), ")"));
}

// Reads PreferredNUMANodeId: plain decimal digits naming a node of `topology` that has CPUs.
absl::Status ReadPreferredNode(const Pod& pod, const Topology& topology, PodRequest& out) {
  auto it = pod.annotations.find(kPreferredNumaNodeAnnotation);
  if (it == pod.annotations.end()) return absl::OkStatus();
  const std::string& value = it->second;

  // Digits only, because from_chars alone would take "-1", and a sign, space or "1.0" is a typo
  // the user should see.
  bool digits = !value.empty();
  for (char c : value) digits = digits && absl::ascii_isdigit(c);
  if (!digits) return PreferredNodeError(pod, value, "is not a NUMA node OS index", topology);

  int node = -1;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), node);
  if (ec != std::errc() || end != value.data() + value.size() || !topology.HasNode(node)) {
    return PreferredNodeError(pod, value, "names no NUMA node of this topology", topology);
  }
  if (topology.FindNode(node)->cpus.Empty()) {
    return PreferredNodeError(
        pod, value, absl::StrCat("names NUMA node ", node, ", which has no CPUs"), topology);
  }
  out.preferred_node = node;
  return absl::OkStatus();
}

absl::Status ReadNumaPolicy(const Pod& pod, PodRequest& out) {
  auto it = pod.annotations.find(kNumaPolicyAnnotation);
  if (it == pod.annotations.end()) return absl::OkStatus();
  if (it->second == "preferred") {
    out.numa_policy = NumaPolicy::kPreferred;
  } else if (it->second == "strict") {
    out.numa_policy = NumaPolicy::kStrict;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("pod ", pod.Key(), ": annotation ",
                                                   kNumaPolicyAnnotation, " \"", it->second,
                                                   "\" is not a NUMA policy; expected "
                                                   "\"preferred\" (the default) or \"strict\""));
  }
  return absl::OkStatus();
}

// The canonical spelling for a CPU quantity built by hand, without its original text.
std::string FormatCpuMillis(int64_t millis) {
  if (millis % 1000 == 0) return absl::StrCat(millis / 1000);
  return absl::StrCat(millis, "m");
}

// The CPU quantity that decides exclusivity, as the user wrote it, and the field it came from: the
// request, or the limit when the request is absent (the request then defaults to the limit).
struct CpuField {
  int64_t millis = 0;
  std::string field;
  std::string text;
};

CpuField CpuRequestOf(const Resources& r) {
  CpuField out;
  if (r.cpu_request_millis.has_value()) {
    out.millis = *r.cpu_request_millis;
    out.field = "resources.requests.cpu";
    out.text = r.cpu_request_text.empty() ? FormatCpuMillis(out.millis) : r.cpu_request_text;
  } else if (r.cpu_limit_millis.has_value()) {
    out.millis = *r.cpu_limit_millis;
    out.field = "resources.limits.cpu";
    out.text = r.cpu_limit_text.empty() ? FormatCpuMillis(out.millis) : r.cpu_limit_text;
  }
  return out;
}

// The first container whose zero CPU quantity alone keeps the pod from Guaranteed, or nullptr. The
// kubelet counts zero as unset, so `cpu: "0"` with equal requests and limits silently makes the
// pod Burstable.
const ContainerSpec* ZeroCpuContainer(const Pod& pod) {
  const ContainerSpec* zero = nullptr;
  bool rest_guaranteed = true;
  auto visit = [&](const ContainerSpec& container) {
    const Resources& r = container.resources;
    std::optional<int64_t> cpu = r.cpu_request_millis ? r.cpu_request_millis : r.cpu_limit_millis;
    std::optional<int64_t> memory =
        r.memory_request_bytes ? r.memory_request_bytes : r.memory_limit_bytes;
    if (!r.cpu_limit_millis || cpu != r.cpu_limit_millis) rest_guaranteed = false;
    if (!r.memory_limit_bytes || *r.memory_limit_bytes == 0 || memory != r.memory_limit_bytes) {
      rest_guaranteed = false;
    }
    if (zero == nullptr && r.cpu_limit_millis && *r.cpu_limit_millis == 0) zero = &container;
  };
  for (const ContainerSpec& container : pod.init_containers) visit(container);
  for (const ContainerSpec& container : pod.containers) visit(container);
  return rest_guaranteed ? zero : nullptr;
}

absl::Status NotWholeError(const Pod& pod, const ContainerSpec& container, const CpuField& cpu,
                           absl::string_view extra) {
  return absl::InvalidArgumentError(absl::StrCat(
      "pod ", pod.Key(), " container ", container.name, ": ", cpu.field, " \"", cpu.text,
      "\" is not a whole number of CPUs; exclusive CPUs need an integer "
      "request such as \"2\" or \"2000m\"",
      extra));
}

// A request of zero (or less) is a whole number, so the fault named is that it is not positive.
absl::Status NotPositiveError(const Pod& pod, const ContainerSpec& container, const CpuField& cpu,
                              absl::string_view extra) {
  return absl::InvalidArgumentError(absl::StrCat(
      "pod ", pod.Key(), " container ", container.name, ": ", cpu.field, " \"", cpu.text,
      "\" is not a positive whole number of CPUs", extra,
      "; exclusive CPUs need a request and limit of at least one CPU, such as \"1\" or "
      "\"1000m\""));
}

// Why a container of a pod that ZeroCpuContainer found runs in the shared pool.
absl::Status ZeroCpuError(const Pod& pod, const ContainerSpec& container, const CpuField& cpu,
                          const ContainerSpec& zero_cpu) {
  if (cpu.millis == 0) {
    return NotPositiveError(pod, container, cpu,
                            ", and the kubelet counts a zero CPU quantity as unset, so the pod is "
                            "Burstable and every container runs in the shared pool");
  }
  CpuField zero = CpuRequestOf(zero_cpu.resources);
  return absl::InvalidArgumentError(
      absl::StrCat("pod ", pod.Key(), " container ", container.name,
                   ": runs in the shared pool because the pod is Burstable: container ",
                   zero_cpu.name, " has ", zero.field, " \"", zero.text,
                   "\", which the kubelet counts as unset; give it a positive whole number of CPUs "
                   "such as \"1\""));
}

ContainerRequest RequestFor(const Pod& pod, const ContainerSpec& container,
                            const PodRequest& request, const ContainerSpec* zero_cpu,
                            const Topology& topology) {
  ContainerRequest out;
  out.container = container.name;
  out.init = container.init;
  out.sidecar = container.sidecar;

  CpuField cpu = CpuRequestOf(container.resources);
  if (request.qos != QosClass::kGuaranteed) {
    if (zero_cpu != nullptr) out.error = ZeroCpuError(pod, container, cpu, *zero_cpu);
    return out;
  }

  if (cpu.millis <= 0) {
    out.error = NotPositiveError(pod, container, cpu, "");
    return out;
  }
  if (cpu.millis % 1000 != 0) {
    out.error = NotWholeError(pod, container, cpu, "");
    return out;
  }
  int64_t count = cpu.millis / 1000;
  int assignable = topology.assignable_cpus().Size();
  if (count > assignable) {
    out.error = absl::InvalidArgumentError(
        absl::StrCat("pod ", pod.Key(), " container ", container.name, ": ", cpu.field, " \"",
                     cpu.text, "\" exceeds the ", assignable,
                     " assignable CPUs of this node; request at most ", assignable));
    return out;
  }
  if (!request.annotation_error.ok()) {
    out.error = request.annotation_error;
    return out;
  }
  out.exclusive_cpus = static_cast<int>(count);
  return out;
}

}  // namespace

PodRequest Admit(const Pod& pod, const Topology& topology) {
  PodRequest request;
  request.pod_uid = pod.uid;
  request.pod_key = pod.Key();
  request.qos = ComputeQos(pod);

  absl::Status node = ReadPreferredNode(pod, topology, request);
  absl::Status policy = ReadNumaPolicy(pod, request);
  if (!node.ok() && !policy.ok()) {
    request.annotation_error =
        absl::InvalidArgumentError(absl::StrCat(node.message(), "; also ", policy.message()));
  } else {
    request.annotation_error = node.ok() ? policy : node;
  }

  const ContainerSpec* zero_cpu =
      request.qos == QosClass::kGuaranteed ? nullptr : ZeroCpuContainer(pod);
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    for (const ContainerSpec& container : *list) {
      request.containers.push_back(RequestFor(pod, container, request, zero_cpu, topology));
    }
  }
  return request;
}

}  // namespace numapin
