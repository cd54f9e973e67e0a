// numapinctl simulate: replays pod add, delete and init_done events through NodeAllocator on a
// chosen topology and prints each decision, so that placement can be checked without a cluster.
//
// Events are JSON objects, one a line; blank lines and lines starting with '#' are skipped:
//   {"op":"add","pod":<Pod as the API serves it>}
//   {"op":"init_done","pod":{"metadata":{"namespace":"default","name":"web"}}}
//   {"op":"delete","pod":{"metadata":{"namespace":"default","name":"web"}}}
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tools/numapinctl/commands.h"
#include "tools/numapinctl/flags.h"

namespace numapin::ctl {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr char kEventExample[] = R"({"op":"add","pod":{"metadata":{...},"spec":{...}}})";

// Uids of the pods added so far, by "namespace/name", so that a delete may name a pod by key
// alone even when its add carried a uid.
using UidByKey = std::map<std::string, std::string>;

// Events often come without metadata.uid; the key then replaces it, prefixed so that it
// cannot collide with a real (UUID) uid.
std::string DerivedUid(const std::string& key) { return "numapinctl-simulate:" + key; }

ordered_json DecisionLine(const Pod& pod, const ContainerDecision& decision,
                          const NodeAllocator& allocator) {
  const Topology& topology = allocator.topology();
  CpuSet cpus = decision.exclusive ? decision.assignment.cpus : allocator.SharedPool();
  CpuSet nodes = decision.exclusive ? decision.assignment.numa_nodes : topology.NodesOf(cpus);
  CpuSet mems = decision.exclusive ? decision.assignment.mems
                                   : nodes.Intersection(topology.NodesWithMemory());
  // As for an assignment: all the CPUs' nodes when none of them reports memory, never empty.
  if (mems.Empty()) mems = nodes;

  ordered_json line;
  line["pod"] = pod.Key();
  line["container"] = decision.container;
  line["init"] = decision.init;
  line["qos"] = QosClassName(ComputeQos(pod));
  line["exclusive"] = decision.exclusive;
  line["cpus"] = cpus.ToString();
  line["numa_nodes"] = nodes.ToVector();
  line["mems"] = mems.ToString();
  line["error"] = decision.error.ok() ? ordered_json(nullptr)
                                      : ordered_json(std::string(decision.error.message()));
  return line;
}

absl::Status ApplyAdd(const json& pod_object, NodeAllocator& allocator, UidByKey& uids,
                      std::ostream& out) {
  absl::StatusOr<Pod> pod = ParsePodJson(pod_object);
  if (!pod.ok()) return pod.status();
  if (pod->uid.empty()) pod->uid = DerivedUid(pod->Key());
  uids[pod->Key()] = pod->uid;

  for (const ContainerDecision& decision : allocator.AddPod(*pod)) {
    out << DecisionLine(*pod, decision, allocator).dump() << "\n";
  }
  return absl::OkStatus();
}

struct PodName {
  std::string key;  // "namespace/name".
  std::string uid;
};

// Finds the pod named by a delete or init_done event: its uid is metadata.uid when given, else
// the uid its add used.
absl::StatusOr<PodName> ResolvePod(const json& pod_object, const UidByKey& uids) {
  const json* metadata = nullptr;
  if (pod_object.is_object() && pod_object.contains("metadata")) metadata = &pod_object["metadata"];
  if (metadata == nullptr || !metadata->is_object()) {
    return absl::InvalidArgumentError(
        "pod.metadata is missing; name the pod as {\"metadata\":{\"namespace\":...,\"name\":...}}");
  }
  auto text = [&](const char* key) {
    auto it = metadata->find(key);
    return it != metadata->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string name = text("name");
  if (name.empty()) return absl::InvalidArgumentError("pod.metadata.name is missing");
  std::string ns = text("namespace").empty() ? "default" : text("namespace");
  std::string key = absl::StrCat(ns, "/", name);

  std::string uid = text("uid");
  if (uid.empty()) {
    auto it = uids.find(key);
    uid = it != uids.end() ? it->second : DerivedUid(key);
  }
  return PodName{key, uid};
}

absl::Status ApplyRelease(const std::string& op, const json& pod_object, NodeAllocator& allocator,
                          UidByKey& uids, std::ostream& out) {
  absl::StatusOr<PodName> pod = ResolvePod(pod_object, uids);
  if (!pod.ok()) return pod.status();
  const auto& [key, uid] = *pod;
  if (!allocator.HasPod(uid)) {
    return absl::NotFoundError(
        absl::StrCat("pod ", key, " (uid ", uid, ") is not known; its add event must come first"));
  }

  ordered_json line;
  if (op == "delete") {
    line["deleted"] = key;
    line["released"] = allocator.RemovePod(uid).ToString();
    uids.erase(key);
  } else {
    line["init_done"] = key;
    line["released"] = allocator.FinishInit(uid).ToString();
  }
  line["shared_pool"] = allocator.SharedPool().ToString();
  out << line.dump() << "\n";
  return absl::OkStatus();
}

absl::Status ApplyLine(absl::string_view text, NodeAllocator& allocator, UidByKey& uids,
                       std::ostream& out) {
  json event;
  try {
    event = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid JSON (", e.what(), "); write one event per line, such as ", kEventExample));
  }
  if (!event.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("the event is a JSON ", event.type_name(),
                                                   "; expected an object such as ", kEventExample));
  }

  auto op_it = event.find("op");
  std::string op = op_it != event.end() && op_it->is_string() ? op_it->get<std::string>() : "";
  if (op != "add" && op != "delete" && op != "init_done") {
    std::string op_text = op_it == event.end() ? std::string("missing") : op_it->dump();
    return absl::InvalidArgumentError(
        absl::StrCat("op is ", op_text, "; expected \"add\", \"delete\" or \"init_done\""));
  }
  auto pod_it = event.find("pod");
  if (pod_it == event.end() || !pod_it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"pod\" is missing or not an object; an event carries its pod, as in ", kEventExample));
  }

  if (op == "add") return ApplyAdd(*pod_it, allocator, uids, out);
  return ApplyRelease(op, *pod_it, allocator, uids, out);
}

}  // namespace

int SimulateEvents(NodeAllocator& allocator, std::istream& events, const std::string& events_name,
                   std::ostream& out, std::ostream& err) {
  UidByKey uids;
  int failed = 0;
  std::string line;
  for (int number = 1; std::getline(events, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;

    absl::Status status = ApplyLine(text, allocator, uids, out);
    if (!status.ok()) {
      ++failed;
      err << events_name << ":" << number << ": " << status.message() << "\n";
    }
  }
  return failed;
}

int RunSimulate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const AllocatorOptions defaults;
  const std::vector<FlagSpec> specs = {
      {"topology", false, "host", "where to read the topology: host, xml:PATH or synthetic:DESC"},
      {"reserved-cpus", false, "", "CPUs never made exclusive, in list format such as 0-1"},
      {"full-pcpus-only", true, "", "allocate whole cores only (requests a multiple of SMT width)"},
      {"strict-cpu-reservation", true, "", "keep reserved CPUs out of the shared pool too"},
      {"spill-on-shortage", true, "",
       "spread a preferred-policy container over several NUMA nodes when no one node has room now"},
      {"spare-unshared-cores", true, "true",
       "keep containers of 2+ CPUs off the free SMT siblings of other such containers"},
      {"keep-node-holes", true, "",
       "among equal-cost NUMA nodes, prefer the one that keeps a hole of half a node"},
      {"sharing-budget-percent", false, absl::StrCat(defaults.sharing_budget_percent),
       "the max percentage of live containers of 2+ CPUs that may share a core when sparing "
       "would reject a container or the node is nearly full (0 to 100, 0 for none)"},
      {"nearly-full-percent", false, absl::StrCat(defaults.nearly_full_percent),
       "once at most this percentage of CPUs is free for containers of 2+ CPUs without sharing a "
       "core, place containers where they split no fresh core, within the sharing budget (0 to "
       "100, 0 for never)"},
  };
  const std::string usage =
      "numapinctl simulate [--topology=SOURCE] [--reserved-cpus=LIST] [--full-pcpus-only] "
      "[--strict-cpu-reservation] [--spill-on-shortage] [--spare-unshared-cores=false] "
      "[--keep-node-holes] [--sharing-budget-percent=N] [--nearly-full-percent=N] "
      "[EVENTS.jsonl|-]";
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, specs);
  if (!parsed.ok()) {
    err << "numapinctl simulate: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->help) {
    PrintUsage(out, usage, specs);
    return kExitOk;
  }
  if (parsed->positional.size() > 1) {
    err << "numapinctl simulate: expected one events file, got " << parsed->positional.size()
        << "\nusage: " << usage << "\n";
    return kExitUsage;
  }

  absl::StatusOr<CpuSet> reserved = CpuSet::Parse(parsed->Get("reserved-cpus"));
  if (!reserved.ok()) {
    err << "numapinctl simulate: --reserved-cpus: " << reserved.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<Topology> topology = LoadTopology(parsed->Get("topology"));
  if (!topology.ok()) {
    err << "numapinctl simulate: " << topology.status().message() << "\n";
    return kExitUsage;
  }
  AllocatorOptions options;
  options.reserved_cpus = *reserved;
  options.full_pcpus_only = parsed->GetBool("full-pcpus-only");
  options.strict_cpu_reservation = parsed->GetBool("strict-cpu-reservation");
  options.spill_on_shortage = parsed->GetBool("spill-on-shortage");
  options.spare_unshared_cores = parsed->GetBool("spare-unshared-cores");
  options.keep_node_holes = parsed->GetBool("keep-node-holes");
  if (!absl::SimpleAtoi(parsed->Get("sharing-budget-percent"), &options.sharing_budget_percent)) {
    err << "numapinctl simulate: --sharing-budget-percent: invalid number \""
        << parsed->Get("sharing-budget-percent") << "\"; expected a percentage from 0 to 100\n";
    return kExitUsage;
  }
  if (!absl::SimpleAtoi(parsed->Get("nearly-full-percent"), &options.nearly_full_percent)) {
    err << "numapinctl simulate: --nearly-full-percent: invalid number \""
        << parsed->Get("nearly-full-percent") << "\"; expected a percentage from 0 to 100\n";
    return kExitUsage;
  }
  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(*topology, options);
  if (!allocator.ok()) {
    err << "numapinctl simulate: " << allocator.status().message() << "\n";
    return kExitUsage;
  }

  std::string path = parsed->positional.empty() ? "-" : parsed->positional[0];
  int failed = 0;
  if (path == "-") {
    failed = SimulateEvents(*allocator, std::cin, "stdin", out, err);
  } else {
    std::ifstream file(path);
    if (!file) {
      err << "numapinctl simulate: cannot open events file " << path << ": " << std::strerror(errno)
          << "\n";
      return kExitUsage;
    }
    failed = SimulateEvents(*allocator, file, path, out, err);
  }
  if (failed > 0) {
    err << "numapinctl simulate: " << failed << " event line(s) failed; see the messages above\n";
    return kExitInputErrors;
  }
  return kExitOk;
}

}  // namespace numapin::ctl
