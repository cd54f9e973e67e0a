// DiffPodSpecs: containers matched by name and kind, quantities compared as parsed numbers, so
// that "1" and "1000m" are the same request.
#include "daemon/core/pod_diff.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "policy/allocator.h"

namespace numapin {
namespace {

std::map<std::string, const ContainerSpec*> ContainersByName(const Pod& pod) {
  std::map<std::string, const ContainerSpec*> containers;
  for (const ContainerSpec& spec : pod.init_containers) {
    containers[absl::StrCat("init:", spec.name)] = &spec;
  }
  for (const ContainerSpec& spec : pod.containers) containers[spec.name] = &spec;
  return containers;
}

bool SameQuantities(const Resources& a, const Resources& b) {
  return a.cpu_request_millis == b.cpu_request_millis && a.cpu_limit_millis == b.cpu_limit_millis &&
         a.memory_request_bytes == b.memory_request_bytes &&
         a.memory_limit_bytes == b.memory_limit_bytes;
}

std::string AnnotationOf(const Pod& pod, const std::string& key) {
  auto it = pod.annotations.find(key);
  return it == pod.annotations.end() ? "" : it->second;
}

}  // namespace

PodSpecChange DiffPodSpecs(const Pod& before, const Pod& after) {
  PodSpecChange change;
  const auto old_containers = ContainersByName(before);
  const auto new_containers = ContainersByName(after);
  for (const auto& [name, spec] : new_containers) {
    auto old = old_containers.find(name);
    if (old == old_containers.end()) {
      change.added.push_back(name);
    } else if (!SameQuantities(old->second->resources, spec->resources)) {
      change.resized.push_back(name);
    }
  }
  for (const auto& [name, spec] : old_containers) {
    if (!new_containers.count(name)) change.removed.push_back(name);
  }
  for (const std::string key : {kPreferredNumaNodeAnnotation, kNumaPolicyAnnotation}) {
    if (AnnotationOf(before, key) != AnnotationOf(after, key)) change.annotations.push_back(key);
  }
  return change;
}

}  // namespace numapin
