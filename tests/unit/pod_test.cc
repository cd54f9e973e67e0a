// Pod parsing from the API's JSON and YAML, Kubernetes quantities and PodList items.
#include "policy/pod.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/unit/fixtures.h"

namespace numapin {
namespace {

using numapin::testing::ReadFixture;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

struct CpuCase {
  const char* text;
  int64_t millis;
};

TEST(ParseCpuMillis, AcceptsQuantityGrammar) {
  const CpuCase cases[] = {
      {"2", 2000},           {"2000m", 2000},  {"0.5", 500},    {"1.5", 1500},   {"0", 0},
      {".5", 500},           {"2.", 2000},     {"+1", 1000},    {"1k", 1000000}, {"1500000u", 1500},
      {"1e-3", 1},           {"1e3", 1000000}, {"1E2", 100000}, {"0.001", 1},    {"250m", 250},
      {"1000000000n", 1000}, {"00002", 2000},  {"2.000", 2000},
  };
  for (const CpuCase& c : cases) {
    absl::StatusOr<int64_t> millis = ParseCpuMillis(c.text);
    ASSERT_TRUE(millis.ok()) << c.text << ": " << millis.status();
    EXPECT_EQ(*millis, c.millis) << c.text;
  }
}

TEST(ParseCpuMillis, RejectsGarbageNamingValue) {
  const char* cases[] = {"",    "abc",  "1.5.2", "1 ",   " 1",  "1x",    "1mm", "m",    ".",   "1e",
                         "1e+", "2Gib", "1m5",   "0x10", "1,5", "1_000", "e3",  "1Ki5", "1e3m"};
  for (const char* text : cases) {
    absl::StatusOr<int64_t> millis = ParseCpuMillis(text);
    ASSERT_FALSE(millis.ok()) << "\"" << text << "\" parsed as " << *millis;
    EXPECT_THAT(Message(millis.status()), HasSubstr(absl::StrCat("\"", text, "\""))) << text;
    EXPECT_THAT(Message(millis.status()), HasSubstr("CPU")) << text;
  }
}

TEST(ParseCpuMillis, RejectsFinerThanOneMillicore) {
  for (const char* text : {"0.0005", "1500u", "1.0001", "100n"}) {
    absl::StatusOr<int64_t> millis = ParseCpuMillis(text);
    ASSERT_FALSE(millis.ok()) << text;
    EXPECT_THAT(Message(millis.status()), HasSubstr("finer than 1m")) << text;
    EXPECT_THAT(Message(millis.status()), HasSubstr(text));
  }
}

TEST(ParseCpuMillis, RejectsNegativeAndHuge) {
  absl::StatusOr<int64_t> negative = ParseCpuMillis("-1");
  ASSERT_FALSE(negative.ok());
  EXPECT_THAT(Message(negative.status()), HasSubstr("negative"));
  EXPECT_TRUE(ParseCpuMillis("-0").ok()) << "negative zero is zero";

  for (const char* text : {"99999999999999999999", "10E", "1e100", "9223372036854775807"}) {
    absl::StatusOr<int64_t> millis = ParseCpuMillis(text);
    ASSERT_FALSE(millis.ok()) << text;
    EXPECT_THAT(Message(millis.status()), HasSubstr("too large")) << text;
  }
}

struct MemoryCase {
  const char* text;
  int64_t bytes;
};

TEST(ParseMemoryBytes, AcceptsQuantityGrammar) {
  const MemoryCase cases[] = {
      {"1Gi", int64_t{1} << 30},
      {"512Mi", int64_t{512} << 20},
      {"1G", 1000000000},
      {"1e9", 1000000000},
      {"128974848", 128974848},
      {"129M", 129000000},
      {"123Mi", int64_t{123} << 20},
      {"1.5Gi", int64_t{3} << 29},
      {"1Ki", 1024},
      {"1Ei", int64_t{1} << 60},
      {"1E", 1000000000000000000},  // A lone "E" is the exa suffix, not an exponent.
      {"7Ei", int64_t{7} << 60},
      {"0", 0},
      {"100m", 1},  // A fraction of a byte rounds up, as the kubelet does.
      {"1.0001k", 1001},
  };
  for (const MemoryCase& c : cases) {
    absl::StatusOr<int64_t> bytes = ParseMemoryBytes(c.text);
    ASSERT_TRUE(bytes.ok()) << c.text << ": " << bytes.status();
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

TEST(ParseMemoryBytes, RejectsGarbageNamingValue) {
  for (const char* text : {"1GB", "abc", "1gi", "1 Gi", "Gi", "-1Gi", "8Ei", "1e100"}) {
    absl::StatusOr<int64_t> bytes = ParseMemoryBytes(text);
    ASSERT_FALSE(bytes.ok()) << text << " parsed as " << *bytes;
    EXPECT_THAT(Message(bytes.status()), HasSubstr(absl::StrCat("\"", text, "\""))) << text;
    EXPECT_THAT(Message(bytes.status()), HasSubstr("memory")) << text;
  }
}

TEST(ParsePod, ReadsMetadataFromApiJson) {
  absl::StatusOr<Pod> pod = ParsePod(ReadFixture("pods/web-guaranteed.json"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->uid, "6f1c2a7e-3b9d-4e51-9c0a-2d8f7b1e4a90");
  EXPECT_EQ(pod->namespace_name, "shop");
  EXPECT_EQ(pod->name, "web");
  EXPECT_EQ(pod->Key(), "shop/web");
  EXPECT_EQ(pod->annotations.at("PreferredNUMANodeId"), "1");
  EXPECT_EQ(pod->annotations.at("numapin.io/numa-policy"), "strict");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_FALSE(pod->deleting);
}

TEST(ParsePod, ReadsContainersAndResources) {
  absl::StatusOr<Pod> pod = ParsePod(ReadFixture("pods/web-guaranteed.json"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_EQ(pod->containers.size(), 2u);
  ASSERT_EQ(pod->init_containers.size(), 2u);

  const ContainerSpec& app = pod->containers[0];
  EXPECT_EQ(app.name, "app");
  EXPECT_FALSE(app.init);
  EXPECT_FALSE(app.sidecar);
  EXPECT_EQ(app.resources.cpu_request_millis, 2000);
  EXPECT_EQ(app.resources.cpu_limit_millis, 2000);
  EXPECT_EQ(app.resources.memory_request_bytes, int64_t{1} << 30);
  EXPECT_EQ(app.resources.memory_limit_bytes, int64_t{1} << 30);
  EXPECT_EQ(app.resources.cpu_request_text, "2");

  const ContainerSpec& proxy = pod->containers[1];
  EXPECT_EQ(proxy.resources.cpu_request_millis, 500);
  EXPECT_EQ(proxy.resources.cpu_request_text, "500m");
  EXPECT_EQ(proxy.resources.memory_limit_bytes, int64_t{256} << 20);

  const ContainerSpec& migrate = pod->init_containers[0];
  EXPECT_EQ(migrate.name, "migrate");
  EXPECT_TRUE(migrate.init);
  EXPECT_FALSE(migrate.sidecar);
  EXPECT_EQ(migrate.resources.cpu_request_millis, 4000);

  const ContainerSpec& logs = pod->init_containers[1];
  EXPECT_EQ(logs.name, "logs");
  EXPECT_TRUE(logs.init);
  EXPECT_TRUE(logs.sidecar) << "restartPolicy: Always makes an init container a sidecar";
  EXPECT_EQ(logs.resources.memory_request_bytes, 128974848);
}

TEST(ParsePod, ReadsContainerStatuses) {
  absl::StatusOr<Pod> pod = ParsePod(ReadFixture("pods/web-guaranteed.json"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_EQ(pod->statuses.size(), 4u);

  const ContainerStatus& migrate = pod->statuses[0];
  EXPECT_EQ(migrate.name, "migrate");
  EXPECT_TRUE(migrate.init);
  EXPECT_TRUE(migrate.terminated);
  EXPECT_FALSE(migrate.running);
  EXPECT_EQ(migrate.container_id,
            "containerd://0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9");

  const ContainerStatus& logs = pod->statuses[1];
  EXPECT_EQ(logs.name, "logs");
  EXPECT_TRUE(logs.init);
  EXPECT_TRUE(logs.running);

  const ContainerStatus& app = pod->statuses[2];
  EXPECT_EQ(app.name, "app");
  EXPECT_FALSE(app.init);
  EXPECT_TRUE(app.running);
  EXPECT_FALSE(app.terminated);
  EXPECT_THAT(app.container_id, HasSubstr("containerd://4b6e0d0c"));
}

void ExpectSameResources(const Resources& a, const Resources& b, const std::string& name) {
  EXPECT_EQ(a.cpu_request_millis, b.cpu_request_millis) << name;
  EXPECT_EQ(a.cpu_limit_millis, b.cpu_limit_millis) << name;
  EXPECT_EQ(a.memory_request_bytes, b.memory_request_bytes) << name;
  EXPECT_EQ(a.memory_limit_bytes, b.memory_limit_bytes) << name;
  EXPECT_EQ(a.cpu_request_text, b.cpu_request_text) << name;
  EXPECT_EQ(a.cpu_limit_text, b.cpu_limit_text) << name;
}

void ExpectSameContainers(const std::vector<ContainerSpec>& a,
                          const std::vector<ContainerSpec>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].init, b[i].init) << a[i].name;
    EXPECT_EQ(a[i].sidecar, b[i].sidecar) << a[i].name;
    ExpectSameResources(a[i].resources, b[i].resources, a[i].name);
  }
}

TEST(ParsePod, YamlAndJsonGiveSamePod) {
  absl::StatusOr<Pod> json = ParsePod(ReadFixture("pods/web-guaranteed.json"));
  absl::StatusOr<Pod> yaml = ParsePod(ReadFixture("pods/web-guaranteed.yaml"));
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_TRUE(yaml.ok()) << yaml.status();

  EXPECT_EQ(yaml->uid, json->uid);
  EXPECT_EQ(yaml->Key(), json->Key());
  EXPECT_EQ(yaml->annotations, json->annotations);
  EXPECT_EQ(yaml->phase, json->phase);
  EXPECT_EQ(yaml->deleting, json->deleting);
  ExpectSameContainers(yaml->init_containers, json->init_containers);
  ExpectSameContainers(yaml->containers, json->containers);
  ASSERT_EQ(yaml->statuses.size(), json->statuses.size());
  for (size_t i = 0; i < json->statuses.size(); ++i) {
    EXPECT_EQ(yaml->statuses[i].name, json->statuses[i].name);
    EXPECT_EQ(yaml->statuses[i].container_id, json->statuses[i].container_id);
    EXPECT_EQ(yaml->statuses[i].running, json->statuses[i].running);
    EXPECT_EQ(yaml->statuses[i].terminated, json->statuses[i].terminated);
    EXPECT_EQ(yaml->statuses[i].init, json->statuses[i].init);
  }
  EXPECT_EQ(ComputeQos(*yaml), ComputeQos(*json));
}

TEST(ParsePod, DefaultsNamespaceAndReadsDeletion) {
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata:
  name: solo
  deletionTimestamp: "2026-12-04T11:00:00Z"
spec:
  containers:
  - name: main
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "default");
  EXPECT_EQ(pod->Key(), "default/solo");
  EXPECT_TRUE(pod->deleting);
  EXPECT_EQ(pod->uid, "");
  EXPECT_EQ(pod->phase, "");
  EXPECT_FALSE(pod->containers[0].resources.cpu_request_millis.has_value());
}

TEST(ParsePod, UnquotedNumbersReadAsText) {
  absl::StatusOr<Pod> pod = ParsePod(R"({"metadata": {"name": "n",
      "annotations": {"PreferredNUMANodeId": 1}},
      "spec": {"containers": [{"name": "c",
          "resources": {"limits": {"cpu": 2, "memory": 1e9}}}]}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->annotations.at("PreferredNUMANodeId"), "1");
  EXPECT_EQ(pod->containers[0].resources.cpu_limit_millis, 2000);
  EXPECT_EQ(pod->containers[0].resources.memory_limit_bytes, 1000000000);
}

struct BadPodCase {
  const char* name;
  const char* text;
  std::vector<const char*> fragments;  // Each must appear in the error.
};

TEST(ParsePod, BadInputNamesPodFieldAndValue) {
  const BadPodCase cases[] = {
      {"bad cpu",
       R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"app",
           "resources":{"requests":{"cpu":"two"}}}]}})",
       {"pod default/web", "container app", "resources.requests.cpu", "\"two\""}},
      {"bad memory",
       R"({"metadata":{"name":"web","namespace":"shop"},"spec":{"containers":[{"name":"app",
           "resources":{"limits":{"memory":"1GB"}}}]}})",
       {"pod shop/web", "container app", "resources.limits.memory", "\"1GB\""}},
      {"cpu finer than 1m",
       R"({"metadata":{"name":"web"},"spec":{"initContainers":[{"name":"setup",
           "resources":{"limits":{"cpu":"0.0001"}}}],"containers":[{"name":"app"}]}})",
       {"pod default/web", "container setup", "resources.limits.cpu", "\"0.0001\""}},
      {"container without name",
       R"({"metadata":{"name":"web"},"spec":{"containers":[{"image":"x"}]}})",
       {"pod default/web", "spec.containers[0].name", "missing"}},
      {"containers not an array",
       R"({"metadata":{"name":"web"},"spec":{"containers":{"name":"app"}}})",
       {"pod default/web", "spec.containers", "expected an array"}},
      {"no containers",
       R"({"metadata":{"name":"web"},"spec":{"containers":[]}})",
       {"pod default/web", "spec.containers", "at least one container"}},
      {"missing name", R"({"metadata":{"namespace":"x"},"spec":{}})", {"metadata.name", "missing"}},
      {"missing metadata", R"({"spec":{}})", {"metadata", "missing"}},
      {"missing spec", R"({"metadata":{"name":"web"}})", {"pod default/web", "spec is missing"}},
      {"sidecar policy on app container",
       R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"app",
           "restartPolicy":"Always"}]}})",
       {"pod default/web", "container app", "restartPolicy", "\"Always\""}},
      {"unknown init restart policy",
       R"({"metadata":{"name":"web"},"spec":{"initContainers":[{"name":"i",
           "restartPolicy":"OnFailure"}],"containers":[{"name":"app"}]}})",
       {"container i", "\"OnFailure\"", "\"Always\""}},
      {"duplicate container name",
       R"({"metadata":{"name":"web"},"spec":{"initContainers":[{"name":"app"}],
           "containers":[{"name":"app"}]}})",
       {"pod default/web", "\"app\"", "unique"}},
      {"annotation not a string",
       R"({"metadata":{"name":"web","annotations":{"a":{"b":1}}},
           "spec":{"containers":[{"name":"c"}]}})",
       {"pod default/web", "annotation a", "expected a string"}},
      {"requests not an object",
       R"({"metadata":{"name":"web"},"spec":{"containers":[{"name":"c",
           "resources":{"requests":"2"}}]}})",
       {"container c", "resources.requests", "expected an object"}},
      {"wrong kind", R"({"kind":"Service","metadata":{"name":"web"}})", {"\"Service\"", "Pod"}},
      {"not an object", R"(["a"])", {"array", "Pod object"}},
      {"invalid json", R"({"metadata": {"name": "web",})", {"not valid JSON"}},
      {"invalid yaml", "metadata:\n  name: [web\n", {"not valid YAML"}},
      {"empty", "  \n", {"empty"}},
  };
  for (const BadPodCase& c : cases) {
    absl::StatusOr<Pod> pod = ParsePod(c.text);
    ASSERT_FALSE(pod.ok()) << c.name;
    EXPECT_EQ(pod.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    for (const char* fragment : c.fragments) {
      EXPECT_THAT(Message(pod.status()), HasSubstr(fragment)) << c.name;
    }
  }
}

// Byte-level mutations of a real pod must give a pod or an InvalidArgument error, never a crash or
// an escaped exception.
TEST(ParsePod, MutatedInputNeverCrashes) {
  for (const char* fixture : {"pods/web-guaranteed.json", "pods/web-guaranteed.yaml"}) {
    const std::string original = ReadFixture(fixture);
    std::mt19937 random(20261204);
    const std::string alphabet = "{}[]:,\"'-.0123456789emiKGabc \n\t#&*!|>~";
    for (int round = 0; round < 400; ++round) {
      std::string text = original;
      for (int edit = 0; edit < 1 + round % 5; ++edit) {
        size_t pos = random() % text.size();
        switch (random() % 3) {
          case 0:
            text[pos] = alphabet[random() % alphabet.size()];
            break;
          case 1:
            text.erase(pos, 1 + random() % 8);
            break;
          default:
            text.insert(pos, 1, alphabet[random() % alphabet.size()]);
        }
      }
      absl::StatusOr<Pod> pod = ParsePod(text);
      if (!pod.ok()) {
        EXPECT_EQ(pod.status().code(), absl::StatusCode::kInvalidArgument)
            << fixture << " round " << round << ": " << pod.status();
      }
    }
  }
}

TEST(ParsePodList, BadItemDoesNotHideOthers) {
  absl::StatusOr<PodList> list = ParsePodList(R"({"kind": "PodList", "apiVersion": "v1",
    "items": [
      {"metadata": {"name": "a", "namespace": "n", "uid": "u-a"},
       "spec": {"containers": [{"name": "c"}]}},
      {"metadata": {"name": "b", "namespace": "n", "uid": "u-b"},
       "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "lots"}}}]}},
      {"metadata": {"name": "c", "namespace": "n", "uid": "u-c"},
       "spec": {"containers": [{"name": "c"}]}}
    ]})");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->pods.size(), 2u);
  EXPECT_EQ(list->pods[0].uid, "u-a");
  EXPECT_EQ(list->pods[1].uid, "u-c");
  ASSERT_EQ(list->errors.size(), 1u);
  EXPECT_THAT(Message(list->errors[0]), HasSubstr("items[1]"));
  EXPECT_THAT(Message(list->errors[0]), HasSubstr("pod n/b"));
  EXPECT_THAT(Message(list->errors[0]), HasSubstr("\"lots\""));
}

TEST(ParsePodList, NullItemsIsEmpty) {
  absl::StatusOr<PodList> list = ParsePodList(R"({"kind":"PodList","items":null})");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->pods.empty());
  EXPECT_TRUE(list->errors.empty());
}

TEST(ParsePodList, YamlList) {
  absl::StatusOr<PodList> list = ParsePodList(R"(
kind: PodList
items:
- metadata: {name: a}
  spec: {containers: [{name: c}]}
- "not a pod"
)");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->pods.size(), 1u);
  EXPECT_EQ(list->pods[0].Key(), "default/a");
  ASSERT_EQ(list->errors.size(), 1u);
  EXPECT_THAT(Message(list->errors[0]), HasSubstr("items[1]"));
}

TEST(ParsePodList, RejectsWrongShape) {
  EXPECT_FALSE(ParsePodList(R"({"kind":"Pod","items":[]})").ok());
  EXPECT_FALSE(ParsePodList(R"({"items":{}})").ok());
  EXPECT_FALSE(ParsePodList("[1,2]").ok());
}

TEST(ParsePod, PlainTextNamesTheType) {
  // A text file in the manifest directory parses as one YAML scalar.
  absl::StatusOr<Pod> pod = ParsePod("hello");
  ASSERT_FALSE(pod.ok());
  EXPECT_THAT(Message(pod.status()), HasSubstr("pod is a string, not an object"));
  EXPECT_THAT(Message(pod.status()), Not(HasSubstr("JSON string")));

  absl::StatusOr<PodList> list = ParsePodList("not json");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(Message(list.status()), HasSubstr("pod list is a string, not an object"));
}

}  // namespace
}  // namespace numapin
