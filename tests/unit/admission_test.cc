// Admission over real topology exports and hand-built ones: which containers ask for exclusive
// CPUs, and the errors for bad CPU requests and placement annotations.
#include "policy/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/unit/fixtures.h"

namespace numapin {
namespace {

using numapin::testing::MustLoadTopology;
using numapin::testing::TopologyFixture;
using ::testing::HasSubstr;
using ::testing::Not;

// Node 0 holds the even CPUs and node 1 the odd ones.
Topology TwoNodesInterleaved() {
  return MustLoadTopology(TopologyFixture("24em64t-2n6c2t-pci.xml"));
}

// Two nodes with 4 CPUs each, and node 2 with memory but no CPUs (as CXL or HBM memory shows).
Topology WithCpulessNode() {
  std::vector<Core> cores;
  for (int cpu = 0; cpu < 8; ++cpu) {
    Core core;
    core.numa_node = cpu < 4 ? 0 : 1;
    core.cpus = CpuSet{cpu};
    cores.push_back(core);
  }
  std::vector<NumaNode> nodes = {{0, {}, 1 << 30}, {1, {}, 1 << 30}, {2, {}, 1 << 30}};
  absl::StatusOr<Topology> topology =
      Topology::Build("cpuless-node", cores, {}, nodes, CpuSet::Range(0, 7), {});
  EXPECT_TRUE(topology.ok()) << topology.status();
  return topology.ok() ? *std::move(topology) : Topology();
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// A pod named default/web with one app container "app"; $ANNOTATIONS and $CPU are replaced.
Pod WebPod(const std::string& cpu, const std::string& annotations = "{}") {
  std::string text = absl::StrReplaceAll(R"(
metadata:
  name: web
  uid: uid-web
  annotations: $ANNOTATIONS
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: "$CPU", memory: 1Gi}
      limits: {cpu: "$CPU", memory: 1Gi}
)",
                                         {{"$ANNOTATIONS", annotations}, {"$CPU", cpu}});
  absl::StatusOr<Pod> pod = ParsePod(text);
  EXPECT_TRUE(pod.ok()) << pod.status();
  return pod.ok() ? *std::move(pod) : Pod();
}

struct TopologyCase {
  std::string source;
  std::string nodes_with_cpus;  // Kernel list format, as the errors print them.
  int assignable;
};

std::vector<TopologyCase> Topologies() {
  return {
      {TopologyFixture("24em64t-2n6c2t-pci.xml"), "0-1", 24},
      {TopologyFixture("16amd64-4distances.xml"), "0-7", 16},
      {TopologyFixture("8intel64-4n2t-memattrs.xml"), "0-3", 8},
      {TopologyFixture("96em64t-4n4d3ca2co-pci.xml"), "0-3", 96},
      {TopologyFixture("16em64t-4s2c2t.xml"), "0", 16},
      {"synthetic:package:2 numa:1 core:6 pu:2", "0-1", 24},
  };
}

TEST(Admit, GuaranteedWholeCpusAreExclusive) {
  Topology topology = TwoNodesInterleaved();
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata: {name: db, namespace: data, uid: uid-db}
spec:
  initContainers:
  - name: setup
    resources: {limits: {cpu: "4", memory: 1Gi}}
  - name: logs
    restartPolicy: Always
    resources: {limits: {cpu: 1, memory: 64Mi}}
  containers:
  - name: main
    resources: {requests: {cpu: 2000m, memory: 2Gi}, limits: {cpu: "2", memory: 2Gi}}
)");
  ASSERT_TRUE(pod.ok()) << pod.status();

  PodRequest request = Admit(*pod, topology);
  EXPECT_EQ(request.pod_uid, "uid-db");
  EXPECT_EQ(request.pod_key, "data/db");
  EXPECT_EQ(request.qos, QosClass::kGuaranteed);
  EXPECT_FALSE(request.preferred_node.has_value());
  EXPECT_EQ(request.numa_policy, NumaPolicy::kPreferred);
  EXPECT_TRUE(request.annotation_error.ok()) << request.annotation_error;
  ASSERT_EQ(request.containers.size(), 3u);

  EXPECT_EQ(request.containers[0].container, "setup");
  EXPECT_TRUE(request.containers[0].init);
  EXPECT_FALSE(request.containers[0].sidecar);
  EXPECT_EQ(request.containers[0].exclusive_cpus, 4);
  EXPECT_EQ(request.containers[1].container, "logs");
  EXPECT_TRUE(request.containers[1].sidecar);
  EXPECT_EQ(request.containers[1].exclusive_cpus, 1);
  EXPECT_EQ(request.containers[2].container, "main");
  EXPECT_FALSE(request.containers[2].init);
  EXPECT_EQ(request.containers[2].exclusive_cpus, 2);
  for (const ContainerRequest& c : request.containers) {
    EXPECT_TRUE(c.error.ok()) << c.container << ": " << c.error;
  }
}

TEST(Admit, NonWholeCpuNamesField) {
  Topology topology = TwoNodesInterleaved();
  for (const char* cpu : {"1.5", "500m", "2500m", "0.999"}) {
    PodRequest request = Admit(WebPod(cpu), topology);
    ASSERT_EQ(request.qos, QosClass::kGuaranteed) << cpu;
    ASSERT_EQ(request.containers.size(), 1u);
    const ContainerRequest& app = request.containers[0];
    EXPECT_EQ(app.exclusive_cpus, 0) << cpu;
    ASSERT_FALSE(app.error.ok()) << cpu;
    EXPECT_THAT(Message(app.error), HasSubstr("pod default/web container app")) << cpu;
    EXPECT_THAT(Message(app.error), HasSubstr("resources.requests.cpu")) << cpu;
    EXPECT_THAT(Message(app.error), HasSubstr(absl::StrCat("\"", cpu, "\""))) << cpu;
    EXPECT_THAT(Message(app.error), HasSubstr("not a whole number of CPUs")) << cpu;
    EXPECT_THAT(Message(app.error), HasSubstr("\"2000m\"")) << cpu;
  }
}

TEST(Admit, NotWholeMessageReadsInFull) {
  PodRequest request = Admit(WebPod("1.5"), TwoNodesInterleaved());
  ASSERT_EQ(request.containers.size(), 1u);
  EXPECT_EQ(Message(request.containers[0].error),
            "pod default/web container app: resources.requests.cpu \"1.5\" is not a whole number "
            "of CPUs; exclusive CPUs need an integer request such as \"2\" or \"2000m\"");
}

TEST(Admit, ZeroCpuExplainsBurstable) {
  PodRequest request = Admit(WebPod("0"), TwoNodesInterleaved());
  EXPECT_EQ(request.qos, QosClass::kBurstable);
  ASSERT_EQ(request.containers.size(), 1u);
  EXPECT_EQ(request.containers[0].exclusive_cpus, 0);
  ASSERT_FALSE(request.containers[0].error.ok());
  EXPECT_THAT(Message(request.containers[0].error), HasSubstr("pod default/web container app"));
  EXPECT_THAT(Message(request.containers[0].error), HasSubstr("resources.requests.cpu \"0\""));
  EXPECT_THAT(Message(request.containers[0].error), HasSubstr("Burstable"));
}

TEST(Admit, ZeroCpuMessageReadsInFull) {
  PodRequest request = Admit(WebPod("0"), TwoNodesInterleaved());
  ASSERT_EQ(request.containers.size(), 1u);
  const std::string message = Message(request.containers[0].error);
  EXPECT_EQ(message,
            "pod default/web container app: resources.requests.cpu \"0\" is not a positive whole "
            "number of CPUs, and the kubelet counts a zero CPU quantity as unset, so the pod is "
            "Burstable and every container runs in the shared pool; exclusive CPUs need a request "
            "and limit of at least one CPU, such as \"1\" or \"1000m\"");
  EXPECT_THAT(message, Not(HasSubstr("not a whole number"))) << "0 is a whole number";
}

TEST(Admit, ZeroCpuSidecarExplainsOthers) {
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata: {name: web}
spec:
  containers:
  - name: app
    resources: {limits: {cpu: "2", memory: 1Gi}}
  - name: helper
    resources: {limits: {cpu: "0", memory: 64Mi}}
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  PodRequest request = Admit(*pod, TwoNodesInterleaved());
  EXPECT_EQ(request.qos, QosClass::kBurstable);
  ASSERT_EQ(request.containers.size(), 2u);
  EXPECT_EQ(request.containers[0].exclusive_cpus, 0);
  std::string app = Message(request.containers[0].error);
  EXPECT_THAT(app, HasSubstr("pod default/web container app"));
  EXPECT_THAT(app, HasSubstr("container helper has resources.limits.cpu \"0\""));
  EXPECT_THAT(request.containers[1].error.message(), HasSubstr("container helper"));
}

TEST(Admit, LimitOnlyCpuNamesLimitField) {
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata: {name: web}
spec:
  containers:
  - name: app
    resources: {limits: {cpu: "1.5", memory: 1Gi}}
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  PodRequest request = Admit(*pod, TwoNodesInterleaved());
  ASSERT_EQ(request.qos, QosClass::kGuaranteed);
  ASSERT_EQ(request.containers.size(), 1u);
  EXPECT_THAT(Message(request.containers[0].error), HasSubstr("resources.limits.cpu \"1.5\""));
}

TEST(Admit, HandBuiltPodPrintsCanonicalQuantity) {
  Pod pod;
  pod.namespace_name = "default";
  pod.name = "web";
  ContainerSpec app;
  app.name = "app";
  app.resources.cpu_request_millis = 1500;
  app.resources.cpu_limit_millis = 1500;
  app.resources.memory_request_bytes = 1 << 20;
  app.resources.memory_limit_bytes = 1 << 20;
  pod.containers.push_back(app);

  PodRequest request = Admit(pod, TwoNodesInterleaved());
  ASSERT_EQ(request.containers.size(), 1u);
  EXPECT_THAT(Message(request.containers[0].error), HasSubstr("\"1500m\""));
}

TEST(Admit, NonGuaranteedGetsSharedPool) {
  Topology topology = TwoNodesInterleaved();
  absl::StatusOr<Pod> burstable = ParsePod(R"(
metadata: {name: batch}
spec:
  containers:
  - name: worker
    resources: {requests: {cpu: "2", memory: 1Gi}, limits: {cpu: "4", memory: 1Gi}}
)");
  absl::StatusOr<Pod> best_effort =
      ParsePod("metadata: {name: idle}\nspec: {containers: [{name: c}]}");
  ASSERT_TRUE(burstable.ok()) << burstable.status();
  ASSERT_TRUE(best_effort.ok()) << best_effort.status();

  PodRequest b = Admit(*burstable, topology);
  EXPECT_EQ(b.qos, QosClass::kBurstable);
  ASSERT_EQ(b.containers.size(), 1u);
  EXPECT_EQ(b.containers[0].exclusive_cpus, 0);
  EXPECT_TRUE(b.containers[0].error.ok()) << b.containers[0].error;

  PodRequest e = Admit(*best_effort, topology);
  EXPECT_EQ(e.qos, QosClass::kBestEffort);
  ASSERT_EQ(e.containers.size(), 1u);
  EXPECT_EQ(e.containers[0].exclusive_cpus, 0);
  EXPECT_TRUE(e.containers[0].error.ok()) << e.containers[0].error;
}

TEST(Admit, RequestBeyondNodeCpusIsRejected) {
  for (const TopologyCase& t : Topologies()) {
    Topology topology = MustLoadTopology(t.source);
    PodRequest fits = Admit(WebPod(std::to_string(t.assignable)), topology);
    ASSERT_EQ(fits.containers.size(), 1u);
    EXPECT_EQ(fits.containers[0].exclusive_cpus, t.assignable) << t.source;
    EXPECT_TRUE(fits.containers[0].error.ok()) << fits.containers[0].error;

    std::string too_many = std::to_string(t.assignable + 1);
    PodRequest over = Admit(WebPod(too_many), topology);
    ASSERT_EQ(over.containers.size(), 1u);
    EXPECT_EQ(over.containers[0].exclusive_cpus, 0) << t.source;
    EXPECT_THAT(Message(over.containers[0].error), HasSubstr("pod default/web container app"));
    EXPECT_THAT(Message(over.containers[0].error), HasSubstr("\"" + too_many + "\""));
    EXPECT_THAT(Message(over.containers[0].error),
                HasSubstr(absl::StrCat("the ", t.assignable, " assignable CPUs")));
  }
}

TEST(Admit, PreferredNodeAcceptedOnEveryNodeWithCpus) {
  for (const TopologyCase& t : Topologies()) {
    Topology topology = MustLoadTopology(t.source);
    for (const NumaNode& node : topology.numa_nodes()) {
      std::string annotations = absl::StrCat("{PreferredNUMANodeId: \"", node.id, "\"}");
      PodRequest request = Admit(WebPod("2", annotations), topology);
      EXPECT_TRUE(request.annotation_error.ok()) << t.source << ": " << request.annotation_error;
      ASSERT_TRUE(request.preferred_node.has_value()) << t.source << " node " << node.id;
      EXPECT_EQ(*request.preferred_node, node.id) << t.source;
      EXPECT_EQ(request.containers[0].exclusive_cpus, 2) << t.source;
    }
  }
}

TEST(Admit, InterleavedNodeOneIsOddCpus) {
  Topology topology = TwoNodesInterleaved();
  PodRequest request = Admit(WebPod("2", "{PreferredNUMANodeId: \"1\"}"), topology);
  ASSERT_EQ(request.preferred_node, 1);
  EXPECT_EQ(topology.FindNode(*request.preferred_node)->cpus.ToString(),
            "1,3,5,7,9,11,13,15,17,19,21,23");
}

struct BadAnnotationCase {
  std::string value;
  std::string problem;
};

TEST(Admit, BadPreferredNodeNamesValueAndChoices) {
  for (const TopologyCase& t : Topologies()) {
    Topology topology = MustLoadTopology(t.source);
    const BadAnnotationCase cases[] = {
        {"abc", "is not a NUMA node OS index"},
        {"-1", "is not a NUMA node OS index"},
        {" 1", "is not a NUMA node OS index"},
        {"1 ", "is not a NUMA node OS index"},
        {"1.0", "is not a NUMA node OS index"},
        {"+1", "is not a NUMA node OS index"},
        {"", "is not a NUMA node OS index"},
        {"0x1", "is not a NUMA node OS index"},
        {"99", "names no NUMA node of this topology"},
        {"99999999999999999999", "names no NUMA node of this topology"},
    };
    for (const BadAnnotationCase& c : cases) {
      std::string annotations = absl::StrCat("{PreferredNUMANodeId: \"", c.value, "\"}");
      PodRequest request = Admit(WebPod("2", annotations), topology);
      std::string context = absl::StrCat(t.source, " value \"", c.value, "\"");
      ASSERT_FALSE(request.annotation_error.ok()) << context;
      std::string message = Message(request.annotation_error);
      EXPECT_THAT(message, HasSubstr("pod default/web")) << context;
      EXPECT_THAT(message, HasSubstr("annotation PreferredNUMANodeId")) << context;
      EXPECT_THAT(message, HasSubstr("\"" + c.value + "\" " + c.problem)) << context;
      EXPECT_THAT(message, HasSubstr("(nodes " + t.nodes_with_cpus + ")")) << context;
      EXPECT_FALSE(request.preferred_node.has_value()) << context;
      ASSERT_EQ(request.containers.size(), 1u);
      EXPECT_EQ(request.containers[0].exclusive_cpus, 0) << context;
      EXPECT_EQ(request.containers[0].error, request.annotation_error) << context;
    }
  }
}

TEST(Admit, NodeWithoutCpusIsRejected) {
  Topology topology = WithCpulessNode();
  PodRequest request = Admit(WebPod("2", "{PreferredNUMANodeId: \"2\"}"), topology);
  ASSERT_FALSE(request.annotation_error.ok());
  EXPECT_THAT(Message(request.annotation_error), HasSubstr("\"2\" names NUMA node 2"));
  EXPECT_THAT(Message(request.annotation_error), HasSubstr("has no CPUs"));
  EXPECT_THAT(Message(request.annotation_error), HasSubstr("(nodes 0-1)"));
  EXPECT_EQ(request.containers[0].exclusive_cpus, 0);

  PodRequest node_one = Admit(WebPod("2", "{PreferredNUMANodeId: \"1\"}"), topology);
  EXPECT_TRUE(node_one.annotation_error.ok()) << node_one.annotation_error;
  EXPECT_EQ(node_one.preferred_node, 1);
}

TEST(Admit, NumaPolicyAnnotation) {
  Topology topology = TwoNodesInterleaved();
  PodRequest absent = Admit(WebPod("2"), topology);
  EXPECT_EQ(absent.numa_policy, NumaPolicy::kPreferred);

  PodRequest strict = Admit(WebPod("2", "{numapin.io/numa-policy: strict}"), topology);
  EXPECT_TRUE(strict.annotation_error.ok()) << strict.annotation_error;
  EXPECT_EQ(strict.numa_policy, NumaPolicy::kStrict);
  EXPECT_EQ(strict.containers[0].exclusive_cpus, 2);

  PodRequest preferred = Admit(WebPod("2", "{numapin.io/numa-policy: preferred}"), topology);
  EXPECT_TRUE(preferred.annotation_error.ok()) << preferred.annotation_error;
  EXPECT_EQ(preferred.numa_policy, NumaPolicy::kPreferred);

  for (const char* value : {"Strict", "best-effort", "", " strict"}) {
    std::string annotations = absl::StrCat("{numapin.io/numa-policy: \"", value, "\"}");
    PodRequest bad = Admit(WebPod("2", annotations), topology);
    ASSERT_FALSE(bad.annotation_error.ok()) << value;
    std::string message = Message(bad.annotation_error);
    EXPECT_THAT(message, HasSubstr("pod default/web")) << value;
    EXPECT_THAT(message, HasSubstr("annotation numapin.io/numa-policy")) << value;
    EXPECT_THAT(message, HasSubstr(absl::StrCat("\"", value, "\""))) << value;
    EXPECT_THAT(message, HasSubstr("\"preferred\"")) << value;
    EXPECT_THAT(message, HasSubstr("\"strict\"")) << value;
    EXPECT_EQ(bad.containers[0].exclusive_cpus, 0) << value;
  }
}

TEST(Admit, BothAnnotationsBadReportsBoth) {
  PodRequest request = Admit(WebPod("2", "{PreferredNUMANodeId: x, numapin.io/numa-policy: loose}"),
                             TwoNodesInterleaved());
  ASSERT_FALSE(request.annotation_error.ok());
  EXPECT_THAT(Message(request.annotation_error), HasSubstr("\"x\""));
  EXPECT_THAT(Message(request.annotation_error), HasSubstr("\"loose\""));
}

TEST(Admit, BadAnnotationOnBurstablePodStillReported) {
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata: {name: batch, annotations: {PreferredNUMANodeId: "7"}}
spec:
  containers:
  - name: worker
    resources: {requests: {cpu: "1"}}
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  PodRequest request = Admit(*pod, TwoNodesInterleaved());
  EXPECT_EQ(request.qos, QosClass::kBurstable);
  EXPECT_FALSE(request.annotation_error.ok());
  EXPECT_TRUE(request.containers[0].error.ok()) << "the container never asked for exclusive CPUs";
}

TEST(Admit, YamlAndJsonGiveSameRequest) {
  Topology topology = TwoNodesInterleaved();
  absl::StatusOr<Pod> yaml = ParsePod(R"(
metadata: {name: web, annotations: {PreferredNUMANodeId: "1"}}
spec:
  containers:
  - {name: app, resources: {limits: {cpu: 3, memory: 1Gi}}}
  - {name: side, resources: {limits: {cpu: 250m, memory: 1Gi}}}
)");
  absl::StatusOr<Pod> json = ParsePod(R"({"metadata": {"name": "web",
      "annotations": {"PreferredNUMANodeId": "1"}},
      "spec": {"containers": [
        {"name": "app", "resources": {"limits": {"cpu": "3", "memory": "1Gi"}}},
        {"name": "side", "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}}]}})");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  ASSERT_TRUE(json.ok()) << json.status();

  PodRequest a = Admit(*yaml, topology);
  PodRequest b = Admit(*json, topology);
  EXPECT_EQ(a.qos, b.qos);
  EXPECT_EQ(a.preferred_node, b.preferred_node);
  ASSERT_EQ(a.containers.size(), b.containers.size());
  for (size_t i = 0; i < a.containers.size(); ++i) {
    EXPECT_EQ(a.containers[i].exclusive_cpus, b.containers[i].exclusive_cpus) << i;
    EXPECT_EQ(a.containers[i].error, b.containers[i].error) << i;
  }
  EXPECT_EQ(a.containers[0].exclusive_cpus, 3);
  EXPECT_FALSE(a.containers[1].error.ok());
}

}  // namespace
}  // namespace numapin
