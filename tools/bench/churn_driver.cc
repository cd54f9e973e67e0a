// bench-churn-driver: replays a churn event file (numapinctl simulate JSONL) through ParsePodJson
// and NodeAllocator::AddPod and prints the fields of numapinctl simulate's output lines that
// churn-quality reads. It cross-checks numapinctl simulate with a second, independent reader of
// the same events.
//
//   bench-churn-driver --topology=xml:PATH [--reserved-cpus=LIST] [--spill-on-shortage]
//   [--spare-unshared-cores=false] [--keep-node-holes] [--sharing-budget-percent=N]
//   [--nearly-full-percent=N] EVENTS
//
// The flags are spelled as numapinctl simulate spells them, so that churn-quality can pass the
// same extra flags to both.
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "policy/allocator.h"
#include "policy/pod.h"
#include "policy/topology.h"

namespace numapin {
namespace {

// The fields of numapinctl simulate's decision line that churn-quality reads.
nlohmann::ordered_json DecisionLine(const std::string& pod_key, const ContainerDecision& decision) {
  nlohmann::ordered_json line;
  line["pod"] = pod_key;
  line["container"] = decision.container;
  line["exclusive"] = decision.exclusive;
  line["cpus"] = decision.assignment.cpus.ToString();
  line["numa_nodes"] = decision.assignment.numa_nodes.ToVector();
  line["mems"] = decision.assignment.mems.ToString();
  line["error"] = decision.error.ok()
                      ? nlohmann::ordered_json(nullptr)
                      : nlohmann::ordered_json(std::string(decision.error.message()));
  return line;
}

// Applies each add and delete event to `allocator` and prints its output lines. Reads the event
// format of docs/numapinctl.md as numapinctl simulate does: blank lines and lines starting with
// '#' are skipped, a pod without metadata.uid gets one derived from its key, and a delete without
// a namespace means "default". Returns false after printing the line of the first invalid event.
bool Replay(std::istream& events, const std::string& path, NodeAllocator& allocator) {
  std::map<std::string, std::string> uid_of_key;  // Delete events name the pod, not its uid.
  std::string line;
  int line_number = 0;
  while (std::getline(events, line)) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object() || !event.contains("op") || !event.contains("pod")) {
      std::cerr << "bench-churn-driver: " << path << ":" << line_number
                << ": invalid event; expected a JSON object with \"op\" and \"pod\"\n";
      return false;
    }
    const nlohmann::json& pod_object = event.at("pod");
    if (event.at("op") == "add") {
      absl::StatusOr<Pod> pod = ParsePodJson(pod_object);
      if (!pod.ok()) {
        std::cerr << "bench-churn-driver: " << path << ":" << line_number << ": "
                  << pod.status().message() << "\n";
        continue;
      }
      if (pod->uid.empty()) pod->uid = "key:" + pod->Key();
      uid_of_key[pod->Key()] = pod->uid;
      for (const ContainerDecision& decision : allocator.AddPod(*pod)) {
        std::cout << DecisionLine(pod->Key(), decision).dump() << "\n";
      }
    } else {
      const nlohmann::json metadata = pod_object.value("metadata", nlohmann::json::object());
      const std::string ns = metadata.value("namespace", "");
      std::string key = (ns.empty() ? "default" : ns) + "/" + metadata.value("name", "");
      auto uid = uid_of_key.find(key);
      CpuSet released;
      if (uid != uid_of_key.end()) {
        released = allocator.RemovePod(uid->second);
        uid_of_key.erase(uid);
      }
      std::cout << nlohmann::json{{"deleted", key}, {"released", released.ToString()}}.dump()
                << "\n";
    }
  }
  return true;
}

int Run(int argc, char** argv) {
  std::string source;
  AllocatorOptions options;
  std::string events_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--topology=")) {
      source = arg.substr(11);
    } else if (absl::StartsWith(arg, "--reserved-cpus=")) {
      absl::StatusOr<CpuSet> reserved = CpuSet::Parse(arg.substr(16));
      if (!reserved.ok()) {
        std::cerr << "bench-churn-driver: " << reserved.status().message() << "\n";
        return 2;
      }
      options.reserved_cpus = *reserved;
    } else if (arg == "--spill-on-shortage") {
      options.spill_on_shortage = true;
    } else if (arg == "--spare-unshared-cores=false") {
      options.spare_unshared_cores = false;
    } else if (arg == "--spare-unshared-cores" || arg == "--spare-unshared-cores=true") {
      options.spare_unshared_cores = true;
    } else if (arg == "--keep-node-holes") {
      options.keep_node_holes = true;
    } else if (absl::StartsWith(arg, "--sharing-budget-percent=")) {
      if (!absl::SimpleAtoi(arg.substr(25), &options.sharing_budget_percent)) {
        std::cerr << "bench-churn-driver: invalid number in " << arg
                  << "; expected a percentage from 0 to 100\n";
        return 2;
      }
    } else if (absl::StartsWith(arg, "--nearly-full-percent=")) {
      if (!absl::SimpleAtoi(arg.substr(22), &options.nearly_full_percent)) {
        std::cerr << "bench-churn-driver: invalid number in " << arg
                  << "; expected a percentage from 0 to 100\n";
        return 2;
      }
    } else if (absl::StartsWith(arg, "--")) {
      // An unknown flag would otherwise be taken for the events file and then replaced by the
      // next argument, so the replay would run with default options and look valid.
      std::cerr << "bench-churn-driver: unknown flag " << arg
                << "; known: --topology, --reserved-cpus, --spill-on-shortage, "
                   "--spare-unshared-cores=false, --keep-node-holes, --sharing-budget-percent, "
                   "--nearly-full-percent\n";
      return 2;
    } else {
      events_path = arg;
    }
  }
  if (source.empty() || events_path.empty()) {
    std::cerr << "usage: bench-churn-driver --topology=xml:PATH [--reserved-cpus=LIST] "
                 "[--spill-on-shortage] [--spare-unshared-cores=false] [--keep-node-holes] "
                 "[--sharing-budget-percent=N] [--nearly-full-percent=N] EVENTS\n";
    return 2;
  }
  absl::StatusOr<Topology> topology = LoadTopology(source);
  if (!topology.ok()) {
    std::cerr << "bench-churn-driver: " << topology.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(*topology, options);
  if (!allocator.ok()) {
    std::cerr << "bench-churn-driver: " << allocator.status().message() << "\n";
    return 1;
  }

  std::ifstream events(events_path);
  if (!events) {
    std::cerr << "bench-churn-driver: cannot open " << events_path << "\n";
    return 1;
  }
  return Replay(events, events_path, *allocator) ? 0 : 1;
}

}  // namespace
}  // namespace numapin

int main(int argc, char** argv) { return numapin::Run(argc, argv); }
