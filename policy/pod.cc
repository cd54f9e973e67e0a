// Reads a Kubernetes Pod (or the kubelet's PodList) from the JSON or YAML the API serves, keeping
// only what admission and the daemon use, and computes the pod's QoS class as the kubelet does.
#include "policy/pod.h"

#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "policy/document.h"

namespace numapin {
namespace {

using nlohmann::json;

absl::Status FieldError(absl::string_view context, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(context, ": ", message));
}

// Returns object[key] when it is present and not null, else nullptr.
const json* Member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status RequireObject(const json& value, absl::string_view context, absl::string_view field) {
  if (value.is_object()) return absl::OkStatus();
  return FieldError(context,
                    absl::StrCat(field, " is a JSON ", value.type_name(), "; expected an object"));
}

// Reads a string field, "" when absent or null. Numbers and booleans are spelled as JSON prints
// them, because hand-written input often leaves annotation values such as 1 unquoted.
absl::StatusOr<std::string> StringField(const json& object, const char* key,
                                        absl::string_view context, absl::string_view field) {
  const json* value = Member(object, key);
  if (value == nullptr) return std::string();
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number() || value->is_boolean()) return value->dump();
  return FieldError(context,
                    absl::StrCat(field, " is a JSON ", value->type_name(), "; expected a string"));
}

template <typename Parser>
absl::Status ReadQuantity(const json& list, const char* resource, absl::string_view context,
                          absl::string_view field, Parser parse, std::optional<int64_t>& out,
                          std::string* text_out) {
  std::string path = absl::StrCat(field, ".", resource);
  absl::StatusOr<std::string> text = StringField(list, resource, context, path);
  if (!text.ok()) return text.status();
  if (Member(list, resource) == nullptr) return absl::OkStatus();

  absl::StatusOr<int64_t> value = parse(*text);
  if (!value.ok()) return FieldError(context, absl::StrCat(path, ": ", value.status().message()));
  out = *value;
  if (text_out != nullptr) *text_out = *text;
  return absl::OkStatus();
}

absl::Status ReadResources(const json& container, absl::string_view context, Resources& out) {
  const json* resources = Member(container, "resources");
  if (resources == nullptr) return absl::OkStatus();
  if (absl::Status s = RequireObject(*resources, context, "resources"); !s.ok()) return s;

  struct List {
    const char* key;
    std::optional<int64_t>* cpu;
    std::string* cpu_text;
    std::optional<int64_t>* memory;
  };
  const List lists[] = {
      {"requests", &out.cpu_request_millis, &out.cpu_request_text, &out.memory_request_bytes},
      {"limits", &out.cpu_limit_millis, &out.cpu_limit_text, &out.memory_limit_bytes},
  };
  for (const List& list : lists) {
    const json* values = Member(*resources, list.key);
    if (values == nullptr) continue;
    std::string field = absl::StrCat("resources.", list.key);
    if (absl::Status s = RequireObject(*values, context, field); !s.ok()) return s;
    absl::Status cpu =
        ReadQuantity(*values, "cpu", context, field, ParseCpuMillis, *list.cpu, list.cpu_text);
    if (!cpu.ok()) return cpu;
    absl::Status memory =
        ReadQuantity(*values, "memory", context, field, ParseMemoryBytes, *list.memory, nullptr);
    if (!memory.ok()) return memory;
  }
  return absl::OkStatus();
}

absl::StatusOr<ContainerSpec> ReadContainer(const json& item, bool init, absl::string_view pod,
                                            absl::string_view field) {
  ContainerSpec spec;
  spec.init = init;
  std::string context = absl::StrCat("pod ", pod);
  if (absl::Status s = RequireObject(item, context, field); !s.ok()) return s;

  absl::StatusOr<std::string> name =
      StringField(item, "name", context, absl::StrCat(field, ".name"));
  if (!name.ok()) return name.status();
  if (name->empty()) {
    return FieldError(context, absl::StrCat(field, ".name is missing; every container needs one"));
  }
  spec.name = *name;
  context = absl::StrCat("pod ", pod, " container ", spec.name);

  if (absl::Status s = ReadResources(item, context, spec.resources); !s.ok()) return s;

  absl::StatusOr<std::string> restart =
      StringField(item, "restartPolicy", context, "restartPolicy");
  if (!restart.ok()) return restart.status();
  if (!restart->empty()) {
    // Kubernetes allows restartPolicy on init containers only, and only "Always" (a sidecar).
    if (!init || *restart != "Always") {
      return FieldError(context, absl::StrCat("restartPolicy \"", *restart, "\" is not valid",
                                              init ? "; an init container accepts only \"Always\""
                                                   : " on an app container; remove it"));
    }
    spec.sidecar = true;
  }
  return spec;
}

absl::Status ReadContainers(const json& spec, const char* key, bool init, absl::string_view pod,
                            std::vector<ContainerSpec>& out) {
  const json* items = Member(spec, key);
  if (items == nullptr) return absl::OkStatus();
  std::string field = absl::StrCat("spec.", key);
  if (!items->is_array()) {
    return FieldError(
        absl::StrCat("pod ", pod),
        absl::StrCat(field, " is a JSON ", items->type_name(), "; expected an array"));
  }
  for (size_t i = 0; i < items->size(); ++i) {
    absl::StatusOr<ContainerSpec> container =
        ReadContainer((*items)[i], init, pod, absl::StrCat(field, "[", i, "]"));
    if (!container.ok()) return container.status();
    out.push_back(*std::move(container));
  }
  return absl::OkStatus();
}

absl::Status ReadMetadata(const json& object, Pod& pod) {
  const json* metadata = Member(object, "metadata");
  if (metadata == nullptr) return FieldError("pod", "metadata is missing");
  if (absl::Status s = RequireObject(*metadata, "pod", "metadata"); !s.ok()) return s;

  absl::StatusOr<std::string> name = StringField(*metadata, "name", "pod", "metadata.name");
  if (!name.ok()) return name.status();
  if (name->empty()) return FieldError("pod", "metadata.name is missing");
  absl::StatusOr<std::string> ns = StringField(*metadata, "namespace", "pod", "metadata.namespace");
  if (!ns.ok()) return ns.status();
  pod.name = *name;
  pod.namespace_name = ns->empty() ? "default" : *ns;

  std::string context = absl::StrCat("pod ", pod.Key());
  absl::StatusOr<std::string> uid = StringField(*metadata, "uid", context, "metadata.uid");
  if (!uid.ok()) return uid.status();
  pod.uid = *uid;
  pod.deleting = Member(*metadata, "deletionTimestamp") != nullptr;

  const json* annotations = Member(*metadata, "annotations");
  if (annotations == nullptr) return absl::OkStatus();
  if (absl::Status s = RequireObject(*annotations, context, "metadata.annotations"); !s.ok()) {
    return s;
  }
  for (const auto& [key, value] : annotations->items()) {
    absl::StatusOr<std::string> text =
        StringField(*annotations, key.c_str(), context, absl::StrCat("annotation ", key));
    if (!text.ok()) return text.status();
    pod.annotations[key] = *text;
  }
  return absl::OkStatus();
}

absl::Status ReadStatuses(const json& status, const char* key, bool init, absl::string_view pod,
                          std::vector<ContainerStatus>& out) {
  const json* items = Member(status, key);
  if (items == nullptr) return absl::OkStatus();
  std::string context = absl::StrCat("pod ", pod);
  std::string field = absl::StrCat("status.", key);
  if (!items->is_array()) {
    return FieldError(
        context, absl::StrCat(field, " is a JSON ", items->type_name(), "; expected an array"));
  }
  for (size_t i = 0; i < items->size(); ++i) {
    const json& item = (*items)[i];
    std::string item_field = absl::StrCat(field, "[", i, "]");
    if (absl::Status s = RequireObject(item, context, item_field); !s.ok()) return s;

    ContainerStatus entry;
    entry.init = init;
    absl::StatusOr<std::string> name =
        StringField(item, "name", context, absl::StrCat(item_field, ".name"));
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> id =
        StringField(item, "containerID", context, absl::StrCat(item_field, ".containerID"));
    if (!id.ok()) return id.status();
    entry.name = *name;
    entry.container_id = *id;
    if (const json* state = Member(item, "state"); state != nullptr && state->is_object()) {
      entry.running = Member(*state, "running") != nullptr;
      entry.terminated = Member(*state, "terminated") != nullptr;
    }
    out.push_back(std::move(entry));
  }
  return absl::OkStatus();
}

absl::Status ReadStatus(const json& object, Pod& pod) {
  const json* status = Member(object, "status");
  if (status == nullptr) return absl::OkStatus();
  std::string context = absl::StrCat("pod ", pod.Key());
  if (absl::Status s = RequireObject(*status, context, "status"); !s.ok()) return s;

  absl::StatusOr<std::string> phase = StringField(*status, "phase", context, "status.phase");
  if (!phase.ok()) return phase.status();
  pod.phase = *phase;
  absl::Status init = ReadStatuses(*status, "initContainerStatuses", true, pod.Key(), pod.statuses);
  if (!init.ok()) return init;
  return ReadStatuses(*status, "containerStatuses", false, pod.Key(), pod.statuses);
}

// Assignments are keyed by container name, and the API server rejects repeats for that reason too.
absl::Status CheckUniqueNames(const Pod& pod) {
  std::set<std::string> seen;
  for (const auto* list : {&pod.init_containers, &pod.containers}) {
    for (const ContainerSpec& container : *list) {
      if (!seen.insert(container.name).second) {
        return FieldError(absl::StrCat("pod ", pod.Key()),
                          absl::StrCat("container name \"", container.name,
                                       "\" appears more than once; names must be unique"));
      }
    }
  }
  return absl::OkStatus();
}

// The request the kubelet's QoS computation uses: an absent request defaults to the limit (the API
// server applies that default on creation) and a zero quantity counts as not set.
std::optional<int64_t> Effective(std::optional<int64_t> request, std::optional<int64_t> limit) {
  std::optional<int64_t> value = request.has_value() ? request : limit;
  if (value.has_value() && *value == 0) return std::nullopt;
  return value;
}

std::optional<int64_t> NonZero(std::optional<int64_t> value) {
  if (value.has_value() && *value == 0) return std::nullopt;
  return value;
}

}  // namespace

const char* QosClassName(QosClass qos) {
  switch (qos) {
    case QosClass::kGuaranteed:
      return "Guaranteed";
    case QosClass::kBurstable:
      return "Burstable";
    case QosClass::kBestEffort:
      return "BestEffort";
  }
  return "BestEffort";
}

absl::StatusOr<Pod> ParsePodJson(const json& object) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod is a ", object.type_name(), ", not an object; expected a Pod object in JSON or YAML"));
  }
  if (const json* kind = Member(object, "kind"); kind != nullptr && *kind != "Pod") {
    return absl::InvalidArgumentError(
        absl::StrCat("object of kind ", kind->dump(), " is not a Pod; expected kind \"Pod\""));
  }

  Pod pod;
  if (absl::Status s = ReadMetadata(object, pod); !s.ok()) return s;

  const json* spec = Member(object, "spec");
  if (spec == nullptr) return FieldError(absl::StrCat("pod ", pod.Key()), "spec is missing");
  if (absl::Status s = RequireObject(*spec, absl::StrCat("pod ", pod.Key()), "spec"); !s.ok()) {
    return s;
  }
  absl::Status init = ReadContainers(*spec, "initContainers", true, pod.Key(), pod.init_containers);
  if (!init.ok()) return init;
  absl::Status app = ReadContainers(*spec, "containers", false, pod.Key(), pod.containers);
  if (!app.ok()) return app;
  if (pod.containers.empty()) {
    return FieldError(absl::StrCat("pod ", pod.Key()),
                      "spec.containers is missing or empty; a pod needs at least one container");
  }
  if (absl::Status s = CheckUniqueNames(pod); !s.ok()) return s;

  if (absl::Status s = ReadStatus(object, pod); !s.ok()) return s;
  return pod;
}

absl::StatusOr<Pod> ParsePod(absl::string_view text) {
  absl::StatusOr<json> object = ParseJsonOrYaml(text, "pod");
  if (!object.ok()) return object.status();
  return ParsePodJson(*object);
}

absl::StatusOr<PodList> ParsePodList(absl::string_view text) {
  absl::StatusOr<json> object = ParseJsonOrYaml(text, "pod list");
  if (!object.ok()) return object.status();
  if (!object->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod list is a ", object->type_name(),
                     ", not an object; expected a PodList object in JSON or YAML"));
  }
  if (const json* kind = Member(*object, "kind"); kind != nullptr && *kind != "PodList") {
    return absl::InvalidArgumentError(absl::StrCat("object of kind ", kind->dump(),
                                                   " is not a PodList; expected kind \"PodList\""));
  }

  PodList list;
  // An empty list is served as "items": null.
  const json* items = Member(*object, "items");
  if (items == nullptr) return list;
  if (!items->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod list items is a JSON ", items->type_name(), "; expected an array"));
  }
  for (size_t i = 0; i < items->size(); ++i) {
    absl::StatusOr<Pod> pod = ParsePodJson((*items)[i]);
    if (pod.ok()) {
      list.pods.push_back(*std::move(pod));
    } else {
      list.errors.push_back(absl::InvalidArgumentError(
          absl::StrCat("pod list items[", i, "]: ", pod.status().message())));
    }
  }
  return list;
}

QosClass ComputeQos(const Pod& pod) {
  bool any_set = false;
  bool guaranteed = true;
  auto visit = [&](const ContainerSpec& container) {
    const Resources& r = container.resources;
    std::optional<int64_t> cpu_limit = NonZero(r.cpu_limit_millis);
    std::optional<int64_t> memory_limit = NonZero(r.memory_limit_bytes);
    std::optional<int64_t> cpu = Effective(r.cpu_request_millis, r.cpu_limit_millis);
    std::optional<int64_t> memory = Effective(r.memory_request_bytes, r.memory_limit_bytes);

    any_set = any_set || cpu || memory || cpu_limit || memory_limit;
    if (!cpu_limit || !memory_limit || cpu != cpu_limit || memory != memory_limit) {
      guaranteed = false;
    }
  };
  for (const ContainerSpec& container : pod.init_containers) visit(container);
  for (const ContainerSpec& container : pod.containers) visit(container);

  if (!any_set) return QosClass::kBestEffort;
  return guaranteed ? QosClass::kGuaranteed : QosClass::kBurstable;
}

}  // namespace numapin
