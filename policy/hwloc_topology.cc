// LoadTopology: the one edge of policy/ that does I/O. It reads the machine (or an XML export or
// a synthetic description) through hwloc and turns it into a Topology value of OS indexes.
#include <hwloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "policy/topology.h"

namespace numapin {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology_t topology) const { hwloc_topology_destroy(topology); }
};
using HwlocTopology = std::unique_ptr<hwloc_topology, TopologyDeleter>;

CpuSet FromBitmap(hwloc_const_bitmap_t bitmap) {
  CpuSet set;
  if (bitmap == nullptr) return set;
  unsigned id;
  hwloc_bitmap_foreach_begin(id, bitmap) { set.Add(static_cast<int>(id)); }
  hwloc_bitmap_foreach_end();
  return set;
}

// The NUMA node Linux puts a CPU on: the first normal-memory node attached to the CPU's nearest
// ancestor that has memory children. hwloc also attaches memory-only nodes (HBM, NVDIMM, CXL) at
// the same place with a subtype, and gives them the CPUs of their locality, so "the NUMA nodes
// whose cpuset covers the CPU" can name more than one.
hwloc_obj_t LocalNumaNode(hwloc_obj_t pu) {
  for (hwloc_obj_t obj = pu; obj != nullptr; obj = obj->parent) {
    hwloc_obj_t first = nullptr;
    for (hwloc_obj_t mem = obj->memory_first_child; mem != nullptr; mem = mem->next_sibling) {
      // Memory children can be MemCache objects above the node itself.
      hwloc_obj_t node = mem;
      while (node != nullptr && node->type != HWLOC_OBJ_NUMANODE) node = node->memory_first_child;
      if (node == nullptr) continue;
      if (node->subtype == nullptr) return node;
      if (first == nullptr) first = node;
    }
    if (first != nullptr) return first;
  }
  return nullptr;
}

absl::StatusOr<CpuSet> ReadSysfsOnlineCpus() {
  constexpr const char* kPath = "/sys/devices/system/cpu/online";
  std::ifstream file(kPath);
  if (!file) {
    return absl::UnavailableError(absl::StrCat(
        "failed to read ", kPath, "; is /sys mounted? Otherwise use --topology=xml:PATH"));
  }
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<CpuSet> online = CpuSet::Parse(text.str());
  if (!online.ok()) {
    return absl::DataLossError(absl::StrCat(kPath, ": ", online.status().message()));
  }
  return online;
}

std::vector<int> ReadDistances(hwloc_topology_t topology, const std::vector<NumaNode>& nodes) {
  unsigned count = 8;
  hwloc_distances_s* all[8];
  if (hwloc_distances_get_by_type(topology, HWLOC_OBJ_NUMANODE, &count, all, 0, 0) != 0) return {};

  std::vector<int> matrix;
  // Prefer a latency matrix that covers every node; hwloc may hold several (from the OS, from
  // benchmarks, or grouped levels in old exports).
  for (unsigned pass = 0; pass < 2 && matrix.empty(); ++pass) {
    for (unsigned i = 0; i < std::min(count, 8u) && matrix.empty(); ++i) {
      hwloc_distances_s* d = all[i];
      bool latency = (d->kind & HWLOC_DISTANCES_KIND_MEANS_LATENCY) != 0;
      if (d->nbobjs != nodes.size() || (pass == 0 && !latency)) continue;
      std::map<int, unsigned> position;
      for (unsigned k = 0; k < d->nbobjs; ++k) position[static_cast<int>(d->objs[k]->os_index)] = k;
      if (position.size() != nodes.size()) continue;
      matrix.reserve(nodes.size() * nodes.size());
      for (const NumaNode& from : nodes) {
        for (const NumaNode& to : nodes) {
          matrix.push_back(
              static_cast<int>(d->values[position.at(from.id) * d->nbobjs + position.at(to.id)]));
        }
      }
    }
  }
  for (unsigned i = 0; i < std::min(count, 8u); ++i) hwloc_distances_release(topology, all[i]);
  return matrix;
}

absl::StatusOr<Topology> Convert(hwloc_topology_t topology, const std::string& source,
                                 const CpuSet& assignable) {
  std::vector<NumaNode> nodes;
  for (hwloc_obj_t obj = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_NUMANODE, nullptr);
       obj != nullptr; obj = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_NUMANODE, obj)) {
    NumaNode node;
    node.id = static_cast<int>(obj->os_index);
    node.memory_bytes = obj->attr->numanode.local_memory;
    nodes.push_back(node);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });

  std::vector<Core> cores;
  std::vector<L3Cache> l3_caches;
  std::map<unsigned, int> l3_position;  // hwloc logical index -> position in l3_caches.
  std::map<hwloc_obj_t, int> core_position;
  for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, nullptr); pu != nullptr;
       pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, pu)) {
    int cpu = static_cast<int>(pu->os_index);
    // Topologies without core objects (some virtual machines, some exports) make each PU a core.
    hwloc_obj_t core_obj = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_CORE, pu);
    hwloc_obj_t key = core_obj != nullptr ? core_obj : pu;
    auto [it, inserted] = core_position.emplace(key, static_cast<int>(cores.size()));
    if (inserted) {
      Core core;
      hwloc_obj_t package = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_PACKAGE, pu);
      core.package = package != nullptr ? static_cast<int>(package->os_index) : -1;
      hwloc_obj_t node = LocalNumaNode(pu);
      core.numa_node = node != nullptr ? static_cast<int>(node->os_index) : nodes.front().id;
      hwloc_obj_t l3 = hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_L3CACHE, pu);
      if (l3 != nullptr) {
        auto [l3_it, l3_new] = l3_position.emplace(l3->logical_index, l3_caches.size());
        if (l3_new) l3_caches.push_back(L3Cache{FromBitmap(l3->cpuset)});
        core.l3 = l3_it->second;
      }
      cores.push_back(core);
    }
    cores[it->second].cpus.Add(cpu);
  }
  if (cores.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("topology ", source, " has no CPU (PU)"));
  }

  std::vector<int> distances = ReadDistances(topology, nodes);
  return Topology::Build(source, std::move(cores), std::move(l3_caches), std::move(nodes),
                         std::move(assignable), std::move(distances));
}

}  // namespace

absl::StatusOr<Topology> LoadTopology(const std::string& source) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return absl::InternalError("hwloc_topology_init failed");
  HwlocTopology topology(raw);

  // Without this flag hwloc drops the CPUs outside this process's cpuset (the daemon runs in the
  // shared pool) and the PUs an XML export marks disallowed.
  hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  hwloc_topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_NONE);

  bool host = source == "host";
  const bool xml = absl::StartsWith(source, "xml:");
  const std::string invalid_xml_message =
      absl::StrCat("hwloc XML topology \"", source.substr(xml ? 4 : 0),
                   "\" is invalid; expected a file written by `lstopo --of xml`");
  if (xml) {
    std::string path = source.substr(4);
    // hwloc fails alike on a missing file and on a malformed one, so the file is checked first.
    if (access(path.c_str(), R_OK) != 0) {
      const int saved = errno;
      const std::string message =
          absl::StrCat("cannot read hwloc XML topology \"", path, "\": ", std::strerror(saved),
                       "; fix the path in xml:PATH");
      if (saved == ENOENT) return absl::NotFoundError(message);
      return absl::InvalidArgumentError(message);
    }
    if (hwloc_topology_set_xml(raw, path.c_str()) != 0) {
      return absl::InvalidArgumentError(invalid_xml_message);
    }
  } else if (absl::StartsWith(source, "synthetic:")) {
    std::string description = source.substr(10);
    if (hwloc_topology_set_synthetic(raw, description.c_str()) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid hwloc synthetic topology \"", description,
                       "\"; expected a description such as \"package:2 numa:1 core:6 pu:2\""));
    }
  } else if (!host) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid topology source \"", source,
                     "\"; expected host, xml:PATH or synthetic:DESCRIPTION"));
  }
  if (hwloc_topology_load(raw) != 0) {
    // hwloc 2.9 (Debian 12) accepts a malformed file in hwloc_topology_set_xml and fails here.
    if (xml) return absl::InvalidArgumentError(invalid_xml_message);
    return absl::InvalidArgumentError(absl::StrCat("hwloc failed to load topology ", source));
  }

  // hwloc leaves offline PUs out of the topology cpuset. Its allowed cpuset is what an XML
  // export marks allowed, but for the host it is this process's own cpuset, which is narrower than
  // the node when the daemon runs in the shared pool: there every online CPU counts instead.
  CpuSet assignable = FromBitmap(hwloc_topology_get_topology_cpuset(raw));
  if (host) {
    absl::StatusOr<CpuSet> online = ReadSysfsOnlineCpus();
    if (!online.ok()) return online.status();
    assignable &= *online;
  } else {
    assignable &= FromBitmap(hwloc_topology_get_allowed_cpuset(raw));
  }
  return Convert(raw, source, assignable);
}

}  // namespace numapin
