// DiffPodSpecs on hand-built pods: which containers appear, vanish or change quantities, and
// which NUMA annotations change.
#include "daemon/core/pod_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/allocator.h"

namespace numapin {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ContainerSpec Container(const std::string& name, int64_t cpu_millis, bool init = false) {
  ContainerSpec spec;
  spec.name = name;
  spec.init = init;
  spec.resources.cpu_request_millis = cpu_millis;
  spec.resources.cpu_limit_millis = cpu_millis;
  spec.resources.memory_request_bytes = 64 << 20;
  spec.resources.memory_limit_bytes = 64 << 20;
  return spec;
}

Pod WebPod() {
  Pod pod;
  pod.uid = "uid-web";
  pod.namespace_name = "default";
  pod.name = "web";
  pod.annotations[kPreferredNumaNodeAnnotation] = "1";
  pod.containers.push_back(Container("app", 1000));
  return pod;
}

TEST(DiffPodSpecs, SamePodIsEmpty) {
  Pod after = WebPod();
  after.containers[0].resources.cpu_request_text = "1000m";  // Same quantity, other spelling.
  after.statuses.push_back(ContainerStatus{.name = "app", .container_id = "containerd://abc"});

  EXPECT_TRUE(DiffPodSpecs(WebPod(), after).Empty());
}

TEST(DiffPodSpecs, NewContainerIsAdded) {
  Pod after = WebPod();
  after.containers.push_back(Container("logger", 1000));
  after.init_containers.push_back(Container("setup", 1000, true));

  PodSpecChange change = DiffPodSpecs(WebPod(), after);

  EXPECT_THAT(change.added, ElementsAre("init:setup", "logger"));
  EXPECT_THAT(change.removed, IsEmpty());
  EXPECT_THAT(change.resized, IsEmpty());
  EXPECT_FALSE(change.Empty());
}

TEST(DiffPodSpecs, DroppedContainerIsRemoved) {
  Pod before = WebPod();
  before.containers.push_back(Container("logger", 1000));

  PodSpecChange change = DiffPodSpecs(before, WebPod());

  EXPECT_THAT(change.removed, ElementsAre("logger"));
  EXPECT_THAT(change.added, IsEmpty());
}

TEST(DiffPodSpecs, ChangedCpuIsResized) {
  Pod after = WebPod();
  after.containers[0] = Container("app", 2000);

  PodSpecChange change = DiffPodSpecs(WebPod(), after);

  EXPECT_THAT(change.resized, ElementsAre("app"));
  EXPECT_THAT(change.added, IsEmpty());
}

TEST(DiffPodSpecs, ChangedNumaAnnotationsAreListed) {
  Pod after = WebPod();
  after.annotations[kPreferredNumaNodeAnnotation] = "0";
  after.annotations[kNumaPolicyAnnotation] = "strict";

  PodSpecChange change = DiffPodSpecs(WebPod(), after);

  EXPECT_THAT(change.annotations, ElementsAre(kPreferredNumaNodeAnnotation, kNumaPolicyAnnotation));
  EXPECT_THAT(change.resized, IsEmpty());
}

TEST(DiffPodSpecs, InitAndAppOfOneNameDiffer) {
  Pod before = WebPod();
  before.init_containers.push_back(Container("app", 1000, true));
  Pod after = WebPod();

  EXPECT_THAT(DiffPodSpecs(before, after).removed, ElementsAre("init:app"));
}

}  // namespace
}  // namespace numapin
