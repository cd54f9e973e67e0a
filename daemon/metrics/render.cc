// Builds the Prometheus metric families of docs/metrics.md from a DaemonSnapshot.
#include "daemon/metrics/render.h"

#include <map>
#include <ostream>
#include <set>
#include <streambuf>
#include <string>
#include <tuple>
#include <utility>

#include "numapin_version.h"
#include "prometheus/text_serializer.h"

namespace numapin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr double kNanosPerSecond = 1e9;

double Seconds(uint64_t nanos) { return static_cast<double>(nanos) / kNanosPerSecond; }

// Appends samples to one family, putting the `node` label first on each.
class FamilyWriter {
 public:
  FamilyWriter(std::vector<MetricFamily>& families, const std::string& node, std::string name,
               std::string help, MetricType type)
      : families_(families), index_(families.size()), node_(node), type_(type) {
    families.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
  }

  // Appends one sample labelled `node`, then `base`, then `extra`. Callers pass the labels they
  // share across series as `base` so that each is built once.
  void Add(double value, const Labels& base = {},
           std::initializer_list<ClientMetric::Label> extra = {}) {
    ClientMetric& metric = families_[index_].metric.emplace_back();
    metric.label.reserve(1 + base.size() + extra.size());
    metric.label.push_back({"node", node_});
    metric.label.insert(metric.label.end(), base.begin(), base.end());
    metric.label.insert(metric.label.end(), extra.begin(), extra.end());
    if (type_ == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
  }

  void AddHistogram(const HistogramState& state) {
    ClientMetric& metric = families_[index_].metric.emplace_back();
    metric.label.push_back({"node", node_});
    metric.histogram.sample_count = state.count;
    metric.histogram.sample_sum = state.sum;

    // The snapshot keeps per-bucket counts; the exposition format wants them cumulative. The
    // serializer adds the +Inf bucket from sample_count.
    uint64_t cumulative = 0;
    for (size_t i = 0; i < state.upper_bounds.size(); ++i) {
      if (i < state.counts.size()) cumulative += state.counts[i];
      metric.histogram.bucket.push_back({cumulative, state.upper_bounds[i]});
    }
  }

 private:
  // An index, not a pointer: later writers append to `families` and may move it.
  std::vector<MetricFamily>& families_;
  size_t index_;
  const std::string& node_;
  MetricType type_;
};

// Writes one counter series per key of `values`, adding zero series for `known` keys that have
// not happened yet so that rate() works from the first scrape.
void AddKeyedCounters(FamilyWriter& writer, const char* label,
                      const std::map<std::string, uint64_t>& values,
                      std::initializer_list<const char*> known) {
  std::map<std::string, uint64_t> all(values);
  for (const char* key : known) all.emplace(key, 0);
  for (const auto& [key, value] : all) {
    writer.Add(static_cast<double>(value), {}, {{label, key}});
  }
}

// Index of each CPU's NUMA node, from the snapshot's CPU list.
std::map<int, int> NumaNodeOfCpu(const DaemonSnapshot& snapshot) {
  std::map<int, int> node_of;
  for (const CpuState& cpu : snapshot.cpus) node_of[cpu.cpu] = cpu.numa_node;
  return node_of;
}

Labels ContainerLabels(const ContainerState& container) {
  return {{"namespace", container.namespace_name},
          {"pod", container.pod},
          {"container", container.container}};
}

// Containers with distinct (namespace, pod, container) labels. Two entries can share them for a
// moment, for example when a pod is deleted and recreated under the same name before the old one
// is dropped. Both would make duplicate series, which scrapers reject, so the first one wins.
std::vector<const ContainerState*> UniqueContainers(const DaemonSnapshot& snapshot) {
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  std::vector<const ContainerState*> unique;
  unique.reserve(snapshot.containers.size());
  for (const ContainerState& container : snapshot.containers) {
    if (seen.emplace(container.namespace_name, container.pod, container.container).second) {
      unique.push_back(&container);
    }
  }
  return unique;
}

void AddContainerFamilies(const DaemonSnapshot& snapshot, std::vector<MetricFamily>& families) {
  const std::string& node = snapshot.node_name;
  const std::vector<const ContainerState*> containers = UniqueContainers(snapshot);
  const std::map<int, int> node_of = NumaNodeOfCpu(snapshot);
  std::vector<Labels> labels_of;
  labels_of.reserve(containers.size());
  for (const ContainerState* c : containers) labels_of.push_back(ContainerLabels(*c));

  FamilyWriter run(families, node, "numapin_container_run_seconds_total",
                   "Time the container's threads ran on its allowed CPUs, outside its allocation, "
                   "and on a CPU of a NUMA node other than the container's (remote_numa overlaps "
                   "the other two).",
                   MetricType::Counter);
  for (size_t i = 0; i < containers.size(); ++i) {
    const ContainerCounters& counters = containers[i]->counters;
    run.Add(Seconds(counters.allowed_ns), labels_of[i], {{"placement", "allowed"}});
    run.Add(Seconds(counters.outside_ns), labels_of[i], {{"placement", "outside"}});
    run.Add(Seconds(counters.remote_numa_ns), labels_of[i], {{"placement", "remote_numa"}});
  }

  FamilyWriter migrations(families, node, "numapin_container_migrations_total",
                          "Task migrations between CPUs of one NUMA node (local) and between "
                          "NUMA nodes (cross_numa).",
                          MetricType::Counter);
  for (size_t i = 0; i < containers.size(); ++i) {
    const ContainerCounters& counters = containers[i]->counters;
    migrations.Add(static_cast<double>(counters.migrations_local), labels_of[i],
                   {{"kind", "local"}});
    migrations.Add(static_cast<double>(counters.migrations_cross_numa), labels_of[i],
                   {{"kind", "cross_numa"}});
  }

  FamilyWriter switches(families, node, "numapin_container_context_switches_total",
                        "Context switches in to the container's tasks.", MetricType::Counter);
  for (size_t i = 0; i < containers.size(); ++i) {
    switches.Add(static_cast<double>(containers[i]->counters.context_switches), labels_of[i]);
  }

  FamilyWriter assigned(families, node, "numapin_container_assigned_cpus",
                        "Exclusive CPUs assigned to the container on each NUMA node (absent for "
                        "shared-pool containers).",
                        MetricType::Gauge);
  for (size_t i = 0; i < containers.size(); ++i) {
    if (!containers[i]->exclusive) continue;
    std::map<int, int> per_node;
    containers[i]->cpus.ForEach([&](int cpu) {
      auto it = node_of.find(cpu);
      if (it != node_of.end()) ++per_node[it->second];
    });
    for (const auto& [numa_node, count] : per_node) {
      assigned.Add(count, labels_of[i], {{"numa_node", std::to_string(numa_node)}});
    }
  }

  FamilyWriter conflict(families, node, "numapin_container_pin_conflict",
                        "1 while re-pinning this container is backed off because another writer "
                        "keeps rewriting its cpuset.",
                        MetricType::Gauge);
  for (size_t i = 0; i < containers.size(); ++i) {
    conflict.Add(containers[i]->pin_conflict ? 1 : 0, labels_of[i]);
  }
}

void AddCpuFamilies(const DaemonSnapshot& snapshot, std::vector<MetricFamily>& families) {
  const std::string& node = snapshot.node_name;
  std::vector<Labels> labels_of;
  labels_of.reserve(snapshot.cpus.size());
  for (const CpuState& cpu : snapshot.cpus) {
    labels_of.push_back(
        {{"cpu", std::to_string(cpu.cpu)}, {"numa_node", std::to_string(cpu.numa_node)}});
  }

  FamilyWriter owner(families, node, "numapin_cpu_exclusive_owner",
                     "1 for the container that holds the CPU exclusively.", MetricType::Gauge);
  for (size_t i = 0; i < snapshot.cpus.size(); ++i) {
    const CpuState& cpu = snapshot.cpus[i];
    if (cpu.owner != CpuOwner::kExclusive || cpu.owner_container < 0 ||
        cpu.owner_container >= static_cast<int>(snapshot.containers.size())) {
      continue;
    }
    const ContainerState& c = snapshot.containers[cpu.owner_container];
    owner.Add(1, labels_of[i],
              {{"namespace", c.namespace_name}, {"pod", c.pod}, {"container", c.container}});
  }

  // Every CPU gets these series, so that they do not come and go as assignments change; only
  // exclusive CPUs accumulate foreign run time.
  FamilyWriter foreign(families, node, "numapin_cpu_foreign_run_seconds_total",
                       "Run time of tasks other than the owner on an exclusive CPU, by category of "
                       "task (idle is not counted).",
                       MetricType::Counter);
  for (size_t i = 0; i < snapshot.cpus.size(); ++i) {
    const CpuState& cpu = snapshot.cpus[i];
    foreign.Add(Seconds(cpu.foreign_host_ns), labels_of[i], {{"category", "host"}});
    foreign.Add(Seconds(cpu.foreign_kernel_ns), labels_of[i], {{"category", "kernel"}});
    foreign.Add(Seconds(cpu.foreign_container_ns), labels_of[i], {{"category", "container"}});
  }
}

void AddCpuCountFamilies(const DaemonSnapshot& snapshot, std::vector<MetricFamily>& families) {
  std::map<int, std::map<CpuOwner, int>> per_node;
  for (const CpuState& cpu : snapshot.cpus) ++per_node[cpu.numa_node][cpu.owner];

  for (auto [owner, name, help] :
       {std::tuple{CpuOwner::kExclusive, "numapin_exclusive_cpus", "CPUs assigned exclusively."},
        std::tuple{CpuOwner::kShared, "numapin_shared_pool_cpus", "CPUs in the shared pool."},
        std::tuple{CpuOwner::kReserved, "numapin_reserved_cpus",
                   "CPUs given by --reserved-cpus."}}) {
    FamilyWriter writer(families, snapshot.node_name, name, help, MetricType::Gauge);
    for (auto& [numa_node, counts] : per_node) {
      writer.Add(counts[owner], {{"numa_node", std::to_string(numa_node)}});
    }
  }
}

void AddSingleValue(const DaemonSnapshot& snapshot, std::vector<MetricFamily>& families,
                    const char* name, const char* help, MetricType type, double value) {
  FamilyWriter writer(families, snapshot.node_name, name, help, type);
  writer.Add(value);
}

void AddNodeFamilies(const DaemonSnapshot& snapshot, std::vector<MetricFamily>& families) {
  const std::string& node = snapshot.node_name;
  AddCpuCountFamilies(snapshot, families);

  FamilyWriter failures(families, node, "numapin_allocation_failures_total",
                        "Containers not admitted to exclusive CPUs, by reason.",
                        MetricType::Counter);
  AddKeyedCounters(failures, "reason", snapshot.allocation_failures, {});

  FamilyWriter drift(families, node, "numapin_drift_detected_total", "Drift found, by kind.",
                     MetricType::Counter);
  AddKeyedCounters(drift, "kind", snapshot.drift_detected, {"cpuset", "outside", "shared"});

  FamilyWriter repins(families, node, "numapin_repins_total",
                      "Cgroup rewrites numapind made, by reason.", MetricType::Counter);
  AddKeyedCounters(repins, "reason", snapshot.repins,
                   {"new", "cpuset", "outside", "shared", "pool_change", "restore"});

  AddSingleValue(snapshot, families, "numapin_pin_conflicts_total",
                 "Re-pins given up into back-off because another writer kept undoing them.",
                 MetricType::Counter, static_cast<double>(snapshot.pin_conflicts));
  AddSingleValue(snapshot, families, "numapin_bpf_events_dropped_total",
                 "Violation events the BPF ring buffer could not take.", MetricType::Counter,
                 static_cast<double>(snapshot.bpf_events_dropped));
  AddSingleValue(snapshot, families, "numapin_monitor_up",
                 "1 while the BPF scheduler monitor is loaded and attached.", MetricType::Gauge,
                 snapshot.monitor_up ? 1 : 0);
  AddSingleValue(snapshot, families, "numapin_checkpoint_write_failures_total",
                 "Checkpoint writes that failed.", MetricType::Counter,
                 static_cast<double>(snapshot.checkpoint_write_failures));

  // Allocate mode does not read cpu_manager_state, so a 0 there would be a false alarm.
  if (snapshot.mode == "observe") {
    AddSingleValue(snapshot, families, "numapin_cpu_manager_state_valid",
                   "Observe mode: 1 when the kubelet's cpu_manager_state was read and validated.",
                   MetricType::Gauge, snapshot.cpu_manager_state_valid ? 1 : 0);
  }

  FamilyWriter source_errors(families, node, "numapin_pod_source_errors_total",
                             "Failed reads of the pod source.", MetricType::Counter);
  AddKeyedCounters(source_errors, "source", snapshot.pod_source_errors, {});

  FamilyWriter build(families, node, "numapin_build_info",
                     "numapind's version and git revision; always 1.", MetricType::Gauge);
  build.Add(1, {{"version", BuildVersion()}, {"revision", BuildRevision()}});

  FamilyWriter pin(families, node, "numapin_pin_latency_seconds",
                   "Time from a container's cgroup appearing to its cpuset written.",
                   MetricType::Histogram);
  pin.AddHistogram(snapshot.pin_latency);
  FamilyWriter repair(families, node, "numapin_repair_latency_seconds",
                      "Time from drift detected to the cpuset restored.", MetricType::Histogram);
  repair.AddHistogram(snapshot.repair_latency);
}

// A streambuf that appends to a string. TextSerializer writes label values one character at a
// time; this takes about 15% less CPU than std::ostringstream for a large node, as measured with
// tools/bench/metrics-render.
class StringAppendBuf : public std::streambuf {
 public:
  explicit StringAppendBuf(std::string& text) : text_(text) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      text_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    text_.append(data, static_cast<size_t>(size));
    return size;
  }

 private:
  std::string& text_;
};

}  // namespace

const char* BuildVersion() { return NUMAPIN_VERSION; }
const char* BuildRevision() { return NUMAPIN_REVISION; }

std::vector<MetricFamily> BuildMetricFamilies(const DaemonSnapshot& snapshot) {
  std::vector<MetricFamily> families;
  AddContainerFamilies(snapshot, families);
  AddCpuFamilies(snapshot, families);
  AddNodeFamilies(snapshot, families);
  return families;
}

std::string RenderMetrics(const DaemonSnapshot& snapshot) {
  const std::vector<MetricFamily> families = BuildMetricFamilies(snapshot);
  std::string text;
  // About 120 bytes a sample; reserving avoids most regrowth on large nodes.
  text.reserve(families.size() * 256 + snapshot.containers.size() * 1200 +
               snapshot.cpus.size() * 400);
  StringAppendBuf buffer(text);
  std::ostream out(&buffer);
  prometheus::TextSerializer().Serialize(out, families);
  return text;
}

}  // namespace numapin
