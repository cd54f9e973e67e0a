// Tests of RenderMetrics: family names, HELP/TYPE, the node label, units and label values.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "daemon/metrics/render.h"
#include "tests/fakes/snapshot_fixture.h"

namespace numapin {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::vector<std::string> Samples(const std::string& text) {
  std::vector<std::string> samples;
  for (const std::string& line : Lines(text)) {
    if (line[0] != '#') samples.push_back(line);
  }
  return samples;
}

// The value of the one sample whose name-and-labels part equals `series`, or "" if absent.
std::string ValueOf(const std::string& text, const std::string& series) {
  for (const std::string& line : Samples(text)) {
    if (absl::StartsWith(line, series + " ")) return line.substr(series.size() + 1);
  }
  return "";
}

TEST(MetricsRender, EveryDocumentedFamilyHasHelpAndType) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  const std::vector<std::pair<std::string, std::string>> families = {
      {"numapin_container_run_seconds_total", "counter"},
      {"numapin_container_migrations_total", "counter"},
      {"numapin_container_context_switches_total", "counter"},
      {"numapin_container_assigned_cpus", "gauge"},
      {"numapin_container_pin_conflict", "gauge"},
      {"numapin_cpu_exclusive_owner", "gauge"},
      {"numapin_cpu_foreign_run_seconds_total", "counter"},
      {"numapin_exclusive_cpus", "gauge"},
      {"numapin_shared_pool_cpus", "gauge"},
      {"numapin_reserved_cpus", "gauge"},
      {"numapin_allocation_failures_total", "counter"},
      {"numapin_drift_detected_total", "counter"},
      {"numapin_repins_total", "counter"},
      {"numapin_pin_conflicts_total", "counter"},
      {"numapin_bpf_events_dropped_total", "counter"},
      {"numapin_monitor_up", "gauge"},
      {"numapin_checkpoint_write_failures_total", "counter"},
      {"numapin_pod_source_errors_total", "counter"},
      {"numapin_build_info", "gauge"},
      {"numapin_pin_latency_seconds", "histogram"},
      {"numapin_repair_latency_seconds", "histogram"},
  };
  for (const auto& [name, type] : families) {
    EXPECT_TRUE(absl::StrContains(text, "\n# HELP " + name + " ") ||
                absl::StartsWith(text, "# HELP " + name + " "))
        << name << " has no HELP line";
    EXPECT_TRUE(absl::StrContains(text, "# TYPE " + name + " " + type + "\n"))
        << name << " is not TYPE " << type;
  }
}

TEST(MetricsRender, EverySampleCarriesNodeLabel) {
  const std::vector<std::string> samples = Samples(RenderMetrics(MakeTestSnapshot()));
  ASSERT_FALSE(samples.empty());
  for (const std::string& sample : samples) {
    EXPECT_TRUE(absl::StrContains(sample, "{node=\"worker-1\"")) << sample;
  }
}

TEST(MetricsRender, NoSampleHasTimestamp) {
  for (const std::string& sample : Samples(RenderMetrics(MakeTestSnapshot()))) {
    // A sample is `series value`; a timestamp would be a third field after the labels.
    std::string after_labels = sample.substr(sample.rfind('}') + 1);
    std::vector<std::string> fields = absl::StrSplit(after_labels, ' ', absl::SkipEmpty());
    EXPECT_EQ(fields.size(), 1u) << sample;
  }
}

TEST(MetricsRender, RunTimeIsInSeconds) {
  DaemonSnapshot snapshot = MakeTestSnapshot();
  snapshot.containers[1].counters.allowed_ns = 1500000000;
  snapshot.containers[1].counters.outside_ns = 250000000;
  const std::string text = RenderMetrics(snapshot);
  const std::string prefix =
      "numapin_container_run_seconds_total{node=\"worker-1\",namespace=\"trading\",pod=\"pod-1\","
      "container=\"app\",placement=";
  EXPECT_EQ(ValueOf(text, prefix + "\"allowed\"}"), "1.5");
  EXPECT_EQ(ValueOf(text, prefix + "\"outside\"}"), "0.25");
}

TEST(MetricsRender, ForeignRunTimeIsInSecondsPerCategory) {
  DaemonSnapshot snapshot = MakeTestSnapshot();
  snapshot.cpus[3].foreign_kernel_ns = 2000000000;
  const std::string text = RenderMetrics(snapshot);
  EXPECT_EQ(ValueOf(text,
                    "numapin_cpu_foreign_run_seconds_total{node=\"worker-1\",cpu=\"3\","
                    "numa_node=\"0\",category=\"kernel\"}"),
            "2");
}

TEST(MetricsRender, AssignedCpusCountsPerNumaNode) {
  DaemonSnapshot snapshot = MakeTestSnapshot({.containers = 1, .cpus = 8, .numa_nodes = 2});
  // CPUs 0-3 are NUMA node 0 and 4-7 node 1; give the container one CPU on node 0, two on 1.
  ContainerState& c = snapshot.containers[0];
  c.exclusive = true;
  c.cpus = CpuSet{3, 4, 5};
  const std::string text = RenderMetrics(snapshot);
  const std::string prefix =
      "numapin_container_assigned_cpus{node=\"worker-1\",namespace=\"default\",pod=\"pod-0\","
      "container=\"app\",numa_node=";
  EXPECT_EQ(ValueOf(text, prefix + "\"0\"}"), "1");
  EXPECT_EQ(ValueOf(text, prefix + "\"1\"}"), "2");
}

TEST(MetricsRender, SharedContainerHasNoAssignedCpus) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  // pod-2 is the fixture's shared-pool container.
  EXPECT_FALSE(absl::StrContains(text,
                                 "numapin_container_assigned_cpus{node=\"worker-1\","
                                 "namespace=\"default\",pod=\"pod-2\""));
  EXPECT_TRUE(absl::StrContains(text,
                                "numapin_container_pin_conflict{node=\"worker-1\","
                                "namespace=\"default\",pod=\"pod-2\""));
}

TEST(MetricsRender, ExclusiveOwnerNamesContainer) {
  const DaemonSnapshot snapshot = MakeTestSnapshot();
  const std::string text = RenderMetrics(snapshot);
  // The fixture gives pod-0 CPUs 2-3 (0-1 are reserved).
  EXPECT_EQ(ValueOf(text,
                    "numapin_cpu_exclusive_owner{node=\"worker-1\",cpu=\"2\",numa_node=\"0\","
                    "namespace=\"default\",pod=\"pod-0\",container=\"app\"}"),
            "1");
  EXPECT_FALSE(absl::StrContains(text, "numapin_cpu_exclusive_owner{node=\"worker-1\",cpu=\"0\","));
}

TEST(MetricsRender, CpuCountsPerNumaNode) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  // 16 CPUs on 2 nodes: node 0 has reserved 0-1 and exclusive 2-7; node 1 has exclusive 8-9.
  EXPECT_EQ(ValueOf(text, "numapin_reserved_cpus{node=\"worker-1\",numa_node=\"0\"}"), "2");
  EXPECT_EQ(ValueOf(text, "numapin_reserved_cpus{node=\"worker-1\",numa_node=\"1\"}"), "0");
  EXPECT_EQ(ValueOf(text, "numapin_exclusive_cpus{node=\"worker-1\",numa_node=\"0\"}"), "6");
  EXPECT_EQ(ValueOf(text, "numapin_exclusive_cpus{node=\"worker-1\",numa_node=\"1\"}"), "2");
  EXPECT_EQ(ValueOf(text, "numapin_shared_pool_cpus{node=\"worker-1\",numa_node=\"1\"}"), "6");
}

TEST(MetricsRender, KnownReasonsStartAtZero) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  EXPECT_EQ(ValueOf(text, "numapin_repins_total{node=\"worker-1\",reason=\"pool_change\"}"), "0");
  EXPECT_EQ(ValueOf(text, "numapin_repins_total{node=\"worker-1\",reason=\"cpuset\"}"), "3");
  EXPECT_EQ(ValueOf(text, "numapin_drift_detected_total{node=\"worker-1\",kind=\"shared\"}"), "0");
}

TEST(MetricsRender, BuildInfoHasVersionAndRevision) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  const std::string series = std::string("numapin_build_info{node=\"worker-1\",version=\"") +
                             BuildVersion() + "\",revision=\"" + BuildRevision() + "\"}";
  EXPECT_EQ(ValueOf(text, series), "1");
  EXPECT_NE(std::string(BuildRevision()), "");
}

TEST(MetricsRender, CpuManagerStateOnlyInObserveMode) {
  DaemonSnapshot snapshot = MakeTestSnapshot();
  EXPECT_FALSE(absl::StrContains(RenderMetrics(snapshot), "numapin_cpu_manager_state_valid"));
  snapshot.mode = "observe";
  snapshot.cpu_manager_state_valid = true;
  EXPECT_EQ(ValueOf(RenderMetrics(snapshot), "numapin_cpu_manager_state_valid{node=\"worker-1\"}"),
            "1");
}

TEST(MetricsRender, HistogramBucketsAreCumulative) {
  const std::string text = RenderMetrics(MakeTestSnapshot());
  // Fixture samples: 0.0004, 0.002, 0.002, 0.03 and 12 seconds.
  const std::string bucket = "numapin_pin_latency_seconds_bucket{node=\"worker-1\",le=";
  EXPECT_EQ(ValueOf(text, bucket + "\"0.001\"}"), "1");
  EXPECT_EQ(ValueOf(text, bucket + "\"0.0025\"}"), "3");
  EXPECT_EQ(ValueOf(text, bucket + "\"0.05\"}"), "4");
  EXPECT_EQ(ValueOf(text, bucket + "\"10\"}"), "4");
  EXPECT_EQ(ValueOf(text, bucket + "\"+Inf\"}"), "5");
  EXPECT_EQ(ValueOf(text, "numapin_pin_latency_seconds_count{node=\"worker-1\"}"), "5");
}

TEST(MetricsRender, LabelValuesAreEscaped) {
  DaemonSnapshot snapshot = MakeTestSnapshot({.containers = 1});
  snapshot.containers[0].container = "we\"ird\\name";
  const std::string text = RenderMetrics(snapshot);
  EXPECT_TRUE(absl::StrContains(text, "container=\"we\\\"ird\\\\name\"")) << text;
}

TEST(MetricsRender, DuplicateContainerLabelsRenderOnce) {
  DaemonSnapshot snapshot = MakeTestSnapshot({.containers = 1});
  snapshot.containers.push_back(snapshot.containers[0]);
  snapshot.containers[1].pod_uid = "recreated";
  const std::string text = RenderMetrics(snapshot);
  int count = 0;
  for (const std::string& sample : Samples(text)) {
    if (absl::StartsWith(sample, "numapin_container_context_switches_total{")) ++count;
  }
  EXPECT_EQ(count, 1);
}

TEST(MetricsRender, EmptySnapshotRenders) {
  DaemonSnapshot snapshot;
  snapshot.node_name = "n";
  const std::string text = RenderMetrics(snapshot);
  EXPECT_TRUE(absl::StrContains(text, "numapin_build_info{node=\"n\""));
  EXPECT_TRUE(
      absl::StrContains(text, "numapin_pin_latency_seconds_bucket{node=\"n\",le=\"+Inf\"} 0"));
}

}  // namespace
}  // namespace numapin
