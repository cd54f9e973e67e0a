// ComputeQos against the kubelet's rules, init containers and sidecars included.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/pod.h"

namespace numapin {
namespace {

// "cpu-request/cpu-limit/memory-request/memory-limit" with "-" for an absent quantity, in
// millicores and MiB: "2000/2000/1024/1024".
ContainerSpec Container(const std::string& name, const std::string& resources, bool init = false) {
  ContainerSpec spec;
  spec.name = name;
  spec.init = init;
  std::vector<std::optional<int64_t>> values;
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    size_t slash = resources.find('/', start);
    std::string item = resources.substr(start, slash - start);
    values.push_back(item == "-" ? std::nullopt : std::optional<int64_t>(std::stoll(item)));
    start = slash + 1;
  }
  spec.resources.cpu_request_millis = values[0];
  spec.resources.cpu_limit_millis = values[1];
  if (values[2]) spec.resources.memory_request_bytes = *values[2] << 20;
  if (values[3]) spec.resources.memory_limit_bytes = *values[3] << 20;
  return spec;
}

struct QosCase {
  const char* name;
  std::vector<std::string> init;  // Resources of each init container.
  std::vector<std::string> app;   // Resources of each app container.
  QosClass expected;
};

TEST(ComputeQos, FollowsKubeletRules) {
  const QosCase cases[] = {
      {"requests equal limits", {}, {"2000/2000/1024/1024"}, QosClass::kGuaranteed},
      {"fractional CPU still guaranteed", {}, {"1500/1500/64/64"}, QosClass::kGuaranteed},
      {"missing requests default to limits", {}, {"-/2000/-/1024"}, QosClass::kGuaranteed},
      {"missing CPU request only", {}, {"-/2000/1024/1024"}, QosClass::kGuaranteed},
      {"request below limit", {}, {"1000/2000/1024/1024"}, QosClass::kBurstable},
      {"memory request below limit", {}, {"2000/2000/512/1024"}, QosClass::kBurstable},
      {"no memory limit", {}, {"2000/2000/1024/-"}, QosClass::kBurstable},
      {"no CPU limit", {}, {"2000/-/1024/1024"}, QosClass::kBurstable},
      {"requests only", {}, {"2000/-/1024/-"}, QosClass::kBurstable},
      {"nothing set", {}, {"-/-/-/-"}, QosClass::kBestEffort},
      {"nothing set, two containers", {}, {"-/-/-/-", "-/-/-/-"}, QosClass::kBestEffort},
      {"zero quantities count as unset", {}, {"0/0/0/0"}, QosClass::kBestEffort},
      {"zero CPU limit", {}, {"0/0/1024/1024"}, QosClass::kBurstable},
      {"explicit zero request with a limit", {}, {"0/2000/1024/1024"}, QosClass::kBurstable},
      {"one container without resources",
       {},
       {"2000/2000/1024/1024", "-/-/-/-"},
       QosClass::kBurstable},
      {"every container guaranteed",
       {},
       {"2000/2000/1024/1024", "500/500/64/64"},
       QosClass::kGuaranteed},
      {"init container guaranteed too",
       {"1000/1000/128/128"},
       {"2000/2000/1024/1024"},
       QosClass::kGuaranteed},
      {"init container without limits", {"-/-/-/-"}, {"2000/2000/1024/1024"}, QosClass::kBurstable},
      {"init container burstable",
       {"500/1000/128/128"},
       {"2000/2000/1024/1024"},
       QosClass::kBurstable},
      {"only init container sets requests", {"100/-/-/-"}, {"-/-/-/-"}, QosClass::kBurstable},
      {"init container defaults request to limit",
       {"-/4000/-/512"},
       {"2000/2000/1024/1024"},
       QosClass::kGuaranteed},
  };
  for (const QosCase& c : cases) {
    Pod pod;
    pod.name = "p";
    for (size_t i = 0; i < c.init.size(); ++i) {
      pod.init_containers.push_back(Container("init" + std::to_string(i), c.init[i], true));
    }
    for (size_t i = 0; i < c.app.size(); ++i) {
      pod.containers.push_back(Container("app" + std::to_string(i), c.app[i]));
    }
    EXPECT_EQ(QosClassName(ComputeQos(pod)), std::string(QosClassName(c.expected))) << c.name;
  }
}

TEST(ComputeQos, ParsedSidecarCounts) {
  absl::StatusOr<Pod> pod = ParsePod(R"(
metadata: {name: p}
spec:
  initContainers:
  - name: proxy
    restartPolicy: Always
    resources: {requests: {cpu: 100m, memory: 64Mi}}
  containers:
  - name: app
    resources: {limits: {cpu: "2", memory: 1Gi}}
)");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(ComputeQos(*pod), QosClass::kBurstable) << "the sidecar has requests but no limits";
}

TEST(QosClassName, NamesEveryClass) {
  EXPECT_STREQ(QosClassName(QosClass::kGuaranteed), "Guaranteed");
  EXPECT_STREQ(QosClassName(QosClass::kBurstable), "Burstable");
  EXPECT_STREQ(QosClassName(QosClass::kBestEffort), "BestEffort");
}

}  // namespace
}  // namespace numapin
