// numapinctl topology: the topology numapin loads for a machine (or an hwloc export) with OS
// indexes, so that an operator can check NUMA nodes, SMT siblings and L3 groups before placing
// pods.
#include <iomanip>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "tools/numapinctl/commands.h"
#include "tools/numapinctl/flags.h"

namespace numapin::ctl {
namespace {

struct Package {
  CpuSet cpus;
  CpuSet nodes;
};

// Packages come from the cores' package field; the topology keeps no package objects of its own.
std::map<int, Package> Packages(const Topology& topology) {
  std::map<int, Package> packages;
  for (const Core& core : topology.cores()) {
    Package& package = packages[core.package];
    package.cpus |= core.cpus.Intersection(topology.assignable_cpus());
    package.nodes.Add(core.numa_node);
  }
  return packages;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes == 0) return "no memory";
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string PackageName(int package) {
  return package < 0 ? std::string("none") : absl::StrCat(package);
}

void WriteDistances(const Topology& topology, std::ostream& out) {
  out << "distances" << (topology.HasDistanceMatrix() ? "" : " (none reported; defaults)")
      << ":\n      ";
  for (const NumaNode& to : topology.numa_nodes()) out << std::setw(5) << to.id;
  out << "\n";
  for (const NumaNode& from : topology.numa_nodes()) {
    out << "  " << std::setw(4) << from.id;
    for (const NumaNode& to : topology.numa_nodes()) {
      out << std::setw(5) << topology.Distance(from.id, to.id);
    }
    out << "\n";
  }
}

}  // namespace

std::string TopologyText(const Topology& topology) {
  std::ostringstream out;
  out << "source: " << topology.source() << "\n";
  out << "assignable CPUs: " << topology.assignable_cpus().ToString() << " ("
      << topology.assignable_cpus().Size() << ")\n";
  out << "SMT width: " << topology.SmtWidth() << "\n\n";

  out << "NUMA nodes:\n";
  for (const NumaNode& node : topology.numa_nodes()) {
    out << "  node " << node.id << ": cpus " << (node.cpus.Empty() ? "none" : node.cpus.ToString())
        << ", memory " << FormatBytes(node.memory_bytes) << "\n";
  }

  out << "\ncores (SMT siblings):\n";
  for (const Core& core : topology.cores()) {
    out << "  core " << core.index << ": cpus " << core.cpus.ToString() << ", node "
        << core.numa_node << ", package " << PackageName(core.package) << ", L3 "
        << (core.l3 < 0 ? std::string("none") : absl::StrCat(core.l3)) << "\n";
  }

  out << "\nL3 caches:\n";
  if (topology.l3_caches().empty()) out << "  none\n";
  for (size_t i = 0; i < topology.l3_caches().size(); ++i) {
    out << "  L3 " << i << ": cpus " << topology.l3_caches()[i].cpus.ToString() << "\n";
  }

  out << "\npackages:\n";
  for (const auto& [id, package] : Packages(topology)) {
    out << "  package " << PackageName(id) << ": cpus " << package.cpus.ToString() << ", nodes "
        << package.nodes.ToString() << "\n";
  }

  out << "\n";
  WriteDistances(topology, out);
  return out.str();
}

// Each node carries its own row of the distance matrix, and the top-level "distances" is the
// same matrix, rows and columns in the order of "nodes".
std::string TopologyJson(const Topology& topology) {
  nlohmann::ordered_json root;
  root["source"] = topology.source();
  root["assignable_cpus"] = topology.assignable_cpus().ToString();
  root["smt_width"] = topology.SmtWidth();

  nlohmann::ordered_json matrix = nlohmann::ordered_json::array();
  root["nodes"] = nlohmann::ordered_json::array();
  for (const NumaNode& from : topology.numa_nodes()) {
    std::vector<int> row;
    for (const NumaNode& to : topology.numa_nodes())
      row.push_back(topology.Distance(from.id, to.id));
    root["nodes"].push_back({{"id", from.id},
                             {"cpus", from.cpus.ToString()},
                             {"memory_bytes", from.memory_bytes},
                             {"distances", row}});
    matrix.push_back(row);
  }
  root["distances"] = matrix;
  root["distances_reported"] = topology.HasDistanceMatrix();

  root["cores"] = nlohmann::ordered_json::array();
  for (const Core& core : topology.cores()) {
    root["cores"].push_back({{"index", core.index},
                             {"cpus", core.cpus.ToString()},
                             {"numa_node", core.numa_node},
                             {"package", core.package},
                             {"l3", core.l3}});
  }
  root["l3_caches"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < topology.l3_caches().size(); ++i) {
    root["l3_caches"].push_back({{"index", i}, {"cpus", topology.l3_caches()[i].cpus.ToString()}});
  }
  root["packages"] = nlohmann::ordered_json::array();
  for (const auto& [id, package] : Packages(topology)) {
    root["packages"].push_back(
        {{"id", id}, {"cpus", package.cpus.ToString()}, {"numa_nodes", package.nodes.ToVector()}});
  }
  return root.dump(2) + "\n";
}

int RunTopology(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::vector<FlagSpec> specs = {
      {"topology", false, "host", "where to read the topology: host, xml:PATH or synthetic:DESC"},
      {"output", false, "text", "report format: text or json"},
  };
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, specs);
  if (!parsed.ok()) {
    err << "numapinctl topology: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->help) {
    PrintUsage(out, "numapinctl topology [--topology=SOURCE] [--output=text|json]", specs);
    return kExitOk;
  }
  if (!parsed->positional.empty()) {
    err << "numapinctl topology: unexpected argument \"" << parsed->positional[0]
        << "\"; pass the topology as --topology=SOURCE\n";
    return kExitUsage;
  }
  const std::string& output = parsed->Get("output");
  if (output != "text" && output != "json") {
    err << "numapinctl topology: --output=" << output
        << " is not a format; expected text or json\n";
    return kExitUsage;
  }

  absl::StatusOr<Topology> topology = LoadTopology(parsed->Get("topology"));
  if (!topology.ok()) {
    err << "numapinctl topology: " << topology.status().message() << "\n";
    return kExitUsage;
  }
  out << (output == "json" ? TopologyJson(*topology) : TopologyText(*topology));
  return kExitOk;
}

}  // namespace numapin::ctl
