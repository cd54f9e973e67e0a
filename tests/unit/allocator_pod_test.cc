// NodeAllocator pod handling: init containers' CPUs reused by app containers, sidecars, pods that
// do not qualify, cpuset.mems, determinism and checkpoint restore.
#include <gtest/gtest.h>

#include <random>

#include "policy/allocator.h"
#include "policy/pod.h"
#include "tests/unit/allocator_test_util.h"

namespace numapin {
namespace {

using testing::BuildTopology;
using testing::LoadFixture;
using testing::MakeRequest;
using testing::MustCreate;
using testing::OneContainer;

std::string CpusOf(const NodeAllocator& allocator, const std::string& uid,
                   const std::string& container) {
  const Assignment* assignment = allocator.Find(uid, container);
  return assignment == nullptr ? "<none>" : assignment->cpus.ToString();
}

TEST(AllocatorInit, AppContainersReuseInitCpus) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  allocator.AddRequest(MakeRequest("web", {{.name = "setup", .cpus = 4, .init = true},
                                           {.name = "a", .cpus = 2},
                                           {.name = "b", .cpus = 2}}));

  EXPECT_EQ(CpusOf(allocator, "uid-web", "setup"), "0-3");
  EXPECT_EQ(CpusOf(allocator, "uid-web", "a"), "0-1");
  EXPECT_EQ(CpusOf(allocator, "uid-web", "b"), "2-3");
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-3");
  EXPECT_TRUE(allocator.FinishInit("uid-web").Empty());
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-3");
}

TEST(AllocatorInit, FinishInitReturnsWhatAppsDidNotReuse) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(
      MakeRequest("web", {{.name = "setup", .cpus = 6, .init = true}, {.name = "app", .cpus = 2}}));
  ASSERT_EQ(allocator.ExclusiveCpus().Size(), 6);

  CpuSet released = allocator.FinishInit("uid-web");

  EXPECT_EQ(released.ToString(), "2-5");
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-1");
  EXPECT_EQ(allocator.Find("uid-web", "setup"), nullptr);
  EXPECT_EQ(CpusOf(allocator, "uid-web", "app"), "0-1");
  std::vector<ContainerDecision> decisions = allocator.AddRequest(MakeRequest("web", {}));
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_FALSE(decisions[0].exclusive) << "the init container has finished";
}

TEST(AllocatorInit, PodHoldsItsLargestNeed) {
  Topology topology = BuildTopology(1, 8, 2);
  NodeAllocator allocator = MustCreate(topology);

  allocator.AddRequest(MakeRequest("web", {{.name = "first", .cpus = 4, .init = true},
                                           {.name = "second", .cpus = 6, .init = true},
                                           {.name = "app", .cpus = 3}}));

  // max(4, 6, 3): the second init container reuses the first one's CPUs, the app the second's.
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 6);
  EXPECT_TRUE(
      allocator.Find("uid-web", "app")->cpus.IsSubsetOf(allocator.Find("uid-web", "second")->cpus));
  allocator.FinishInit("uid-web");
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 3);
}

TEST(AllocatorInit, SidecarKeepsItsCpus) {
  Topology topology = BuildTopology(1, 8, 2);
  NodeAllocator allocator = MustCreate(topology);

  allocator.AddRequest(
      MakeRequest("web", {{.name = "proxy", .cpus = 2, .init = true, .sidecar = true},
                          {.name = "setup", .cpus = 4, .init = true},
                          {.name = "app", .cpus = 2}}));

  // The kubelet's effective request: max(setup 4 + proxy 2, app 2 + proxy 2) = 6.
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 6);
  EXPECT_FALSE(allocator.Find("uid-web", "proxy")
                   ->cpus.Intersects(allocator.Find("uid-web", "setup")->cpus));
  CpuSet released = allocator.FinishInit("uid-web");
  EXPECT_EQ(released.Size(), 2);
  EXPECT_EQ(CpusOf(allocator, "uid-web", "proxy"), "0-1");
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 4);
}

TEST(AllocatorAddContainers, AllocatesOnlyNewContainer) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(MakeRequest("web", {{.name = "app", .cpus = 1}}));
  const std::string app_before = CpusOf(allocator, "uid-web", "app");

  std::vector<ContainerDecision> added = allocator.AddContainers(
      MakeRequest("web", {{.name = "app", .cpus = 2}, {.name = "logger", .cpus = 1}}));

  ASSERT_EQ(added.size(), 1u) << "only the new container is decided";
  EXPECT_EQ(added[0].container, "logger");
  EXPECT_TRUE(added[0].exclusive) << added[0].error;
  EXPECT_EQ(CpusOf(allocator, "uid-web", "app"), app_before) << "a resized request moves nothing";
  EXPECT_EQ(allocator.Find("uid-web", "app")->cpus.Size(), 1);
  EXPECT_TRUE(allocator.Find("uid-web", "logger")
                  ->cpus.Intersection(allocator.Find("uid-web", "app")->cpus)
                  .Empty());
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 2);
}

TEST(AllocatorAddContainers, SameContainersAddNothing) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(OneContainer("web", 1));

  EXPECT_TRUE(allocator.AddContainers(OneContainer("web", 1)).empty());
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 1);
}

TEST(AllocatorAddContainers, UnknownPodIsAdded) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<ContainerDecision> added = allocator.AddContainers(OneContainer("web", 2));

  ASSERT_EQ(added.size(), 1u);
  EXPECT_TRUE(added[0].exclusive) << added[0].error;
  EXPECT_TRUE(allocator.HasPod("uid-web"));
}

TEST(AllocatorReleaseContainer, ReturnsCpusToSharedPool) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(
      MakeRequest("web", {{.name = "app", .cpus = 2}, {.name = "log", .cpus = 1}}));
  const CpuSet app_cpus = allocator.Find("uid-web", "app")->cpus;

  CpuSet released =
      allocator.ReleaseContainer("uid-web", "app", absl::InvalidArgumentError("invalid id"));

  EXPECT_EQ(released, app_cpus);
  EXPECT_EQ(allocator.Find("uid-web", "app"), nullptr);
  ASSERT_NE(allocator.Find("uid-web", "log"), nullptr) << "the other container keeps its CPU";
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 1);
  std::vector<ContainerDecision> decisions = allocator.AddRequest(
      MakeRequest("web", {{.name = "app", .cpus = 2}, {.name = "log", .cpus = 1}}));
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_FALSE(decisions[0].exclusive);
  EXPECT_EQ(decisions[0].error.message(), "invalid id");
}

TEST(AllocatorReleaseContainer, KeepsCpusAnotherContainerReuses) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(
      MakeRequest("web", {{.name = "setup", .cpus = 2, .init = true}, {.name = "app", .cpus = 2}}));

  CpuSet released =
      allocator.ReleaseContainer("uid-web", "setup", absl::InvalidArgumentError("invalid id"));

  EXPECT_TRUE(released.Empty()) << released.ToString() << " are app's CPUs too";
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 2);
  EXPECT_TRUE(allocator.ReleaseContainer("uid-web", "gone", absl::OkStatus()).Empty());
}

TEST(AllocatorRemoveContainer, ReaddedContainerIsDecidedAgain) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  const PodRequest both =
      MakeRequest("web", {{.name = "app", .cpus = 2}, {.name = "log", .cpus = 1}});
  allocator.AddRequest(both);
  const CpuSet app_cpus = allocator.Find("uid-web", "app")->cpus;

  EXPECT_EQ(allocator.RemoveContainer("uid-web", "app"), app_cpus);
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 1);
  std::vector<ContainerDecision> added = allocator.AddContainers(both);

  ASSERT_EQ(added.size(), 1u) << "app has no decision left, so it is decided again";
  EXPECT_EQ(added[0].container, "app");
  EXPECT_TRUE(added[0].exclusive) << added[0].error;
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 3);
}

TEST(AllocatorRemoveContainer, UnknownContainerReleasesNothing) {
  Topology topology = BuildTopology(1, 4, 1);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(OneContainer("web", 1));

  EXPECT_TRUE(allocator.RemoveContainer("uid-web", "gone").Empty());
  EXPECT_TRUE(allocator.RemoveContainer("uid-none", "app").Empty());
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 1);
}

TEST(AllocatorAddPod, AdmitsInitSidecarAndAppContainers) {
  Topology topology = LoadFixture("24em64t-2n6c2t-pci.xml");
  NodeAllocator allocator = MustCreate(topology);
  absl::StatusOr<Pod> pod = ParsePod(testing::ReadFixture("pods/web-guaranteed.yaml"));
  ASSERT_TRUE(pod.ok()) << pod.status();

  // Strict on node 1 (the odd CPUs). "migrate" (init, 4 CPUs) runs first, "logs" (a sidecar of
  // 1 CPU) and "app" (2 CPUs) reuse its CPUs, and "proxy" (500m) stays in the shared pool.
  std::vector<ContainerDecision> decisions = allocator.AddPod(*pod);

  ASSERT_EQ(decisions.size(), 4u);
  EXPECT_EQ(decisions[0].container, "migrate");
  EXPECT_EQ(decisions[0].assignment.numa_nodes.ToString(), "1");
  EXPECT_EQ(decisions[0].assignment.cpus.Size(), 4);
  const CpuSet& migrate = decisions[0].assignment.cpus;
  EXPECT_TRUE(decisions[1].assignment.cpus.IsSubsetOf(migrate)) << "logs reuses migrate's CPUs";
  EXPECT_TRUE(decisions[2].assignment.cpus.IsSubsetOf(migrate)) << "app reuses migrate's CPUs";
  EXPECT_FALSE(decisions[1].assignment.cpus.Intersects(decisions[2].assignment.cpus));
  EXPECT_FALSE(decisions[3].exclusive);
  EXPECT_FALSE(decisions[3].error.ok());
  EXPECT_EQ(allocator.ExclusiveCpus(), migrate);

  EXPECT_EQ(allocator.FinishInit(pod->uid).Size(), 1);
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 3);
  EXPECT_EQ(allocator.AddPod(*pod).size(), 4u) << "a known pod keeps its decisions";
}

TEST(AllocatorPod, KnownPodChangesNothing) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<ContainerDecision> first = allocator.AddRequest(OneContainer("web", 2));
  std::vector<ContainerDecision> again = allocator.AddRequest(OneContainer("web", 4));

  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].assignment.cpus, first[0].assignment.cpus);
  EXPECT_EQ(allocator.ExclusiveCpus().Size(), 2);
}

TEST(AllocatorPod, BurstablePodGetsNoExclusiveCpus) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  PodRequest request = OneContainer("web", 2);
  request.qos = QosClass::kBurstable;

  std::vector<ContainerDecision> decisions = allocator.AddRequest(request);

  EXPECT_FALSE(decisions[0].exclusive);
  EXPECT_TRUE(decisions[0].error.ok()) << decisions[0].error;
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
}

TEST(AllocatorPod, AnnotationErrorGivesNoExclusiveCpus) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  PodRequest request = OneContainer("web", 2);
  request.annotation_error = absl::InvalidArgumentError("PreferredNUMANodeId \"abc\" is invalid");

  std::vector<ContainerDecision> decisions = allocator.AddRequest(request);

  EXPECT_FALSE(decisions[0].exclusive);
  EXPECT_EQ(decisions[0].error, request.annotation_error);
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
}

TEST(AllocatorPod, RemovePodReturnsItsCpus) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(OneContainer("web", 3));

  CpuSet released = allocator.RemovePod("uid-web");

  EXPECT_EQ(released.ToString(), "0-2");
  EXPECT_FALSE(allocator.HasPod("uid-web"));
  EXPECT_EQ(allocator.SharedPool().ToString(), "0-7");
  EXPECT_TRUE(allocator.RemovePod("uid-web").Empty());
}

TEST(AllocatorPod, AssignmentsSortedByPodThenContainer) {
  Topology topology = BuildTopology(1, 8, 2);
  NodeAllocator allocator = MustCreate(topology);
  allocator.AddRequest(MakeRequest("b", {{.name = "z", .cpus = 1}, {.name = "y", .cpus = 1}}));
  allocator.AddRequest(OneContainer("a", 2));

  std::vector<AssignmentRecord> records = allocator.Assignments();

  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].pod_uid, "uid-a");
  EXPECT_EQ(records[1].container, "y");
  EXPECT_EQ(records[2].container, "z");
  EXPECT_EQ(records[2].pod_key, "default/b");
}

TEST(AllocatorMems, FallBackWithoutMemorySizes) {
  Topology topology = BuildTopology(2, 2, 2, {}, /*memory_bytes=*/0);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<ContainerDecision> decisions = allocator.AddRequest(OneContainer("web", 2));

  EXPECT_EQ(decisions[0].assignment.numa_nodes.ToString(), "0");
  EXPECT_EQ(decisions[0].assignment.mems.ToString(), "0");
}

TEST(AllocatorMems, SkipNodesWithoutMemory) {
  std::vector<Core> cores(2);
  cores[0].numa_node = 0;
  cores[0].cpus = CpuSet{0, 1};
  cores[1].numa_node = 1;
  cores[1].cpus = CpuSet{2, 3};
  std::vector<NumaNode> nodes = {{.id = 0, .cpus = {}, .memory_bytes = 1 << 30},
                                 {.id = 1, .cpus = {}, .memory_bytes = 0}};
  absl::StatusOr<Topology> topology =
      Topology::Build("test", cores, {}, nodes, CpuSet::Range(0, 3), {});
  ASSERT_TRUE(topology.ok()) << topology.status();
  NodeAllocator allocator = MustCreate(*topology);

  // 3 CPUs exceed any node, so they spread over both; only node 0 has memory.
  std::vector<ContainerDecision> decisions = allocator.AddRequest(OneContainer("web", 3));

  ASSERT_TRUE(decisions[0].exclusive) << decisions[0].error;
  EXPECT_EQ(decisions[0].assignment.numa_nodes.ToString(), "0-1");
  EXPECT_EQ(decisions[0].assignment.mems.ToString(), "0");
}

// Replays seeded adds and removes of 1-16 CPU pods and returns every assignment at the end.
std::vector<std::string> Replay(const Topology& topology, unsigned seed) {
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{0, 192};
  NodeAllocator allocator = MustCreate(topology, options);
  std::mt19937 random(seed);
  std::vector<std::string> live;
  for (int i = 0; i < 400; ++i) {
    if (!live.empty() && random() % 3 == 0) {
      size_t victim = random() % live.size();
      allocator.RemovePod(live[victim]);
      live.erase(live.begin() + victim);
      continue;
    }
    std::string name = "pod" + std::to_string(i);
    allocator.AddRequest(OneContainer(name, 1 + static_cast<int>(random() % 16)));
    live.push_back("uid-" + name);
  }
  std::vector<std::string> result;
  for (const AssignmentRecord& record : allocator.Assignments()) {
    result.push_back(record.pod_uid + "=" + record.assignment.cpus.ToString());
  }
  return result;
}

TEST(AllocatorDeterminism, SameEventsGiveSameAssignments) {
  Topology first = LoadFixture("192em64t-24n8c2t.xml");
  Topology second = LoadFixture("192em64t-24n8c2t.xml");

  std::vector<std::string> a = Replay(first, 7);
  std::vector<std::string> b = Replay(second, 7);

  EXPECT_GT(a.size(), 50u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, Replay(first, 8)) << "a different churn should give different assignments";
}

AssignmentRecord Record(const std::string& pod, const std::string& container, const char* cpus,
                        bool init = false) {
  AssignmentRecord record;
  record.pod_uid = "uid-" + pod;
  record.pod_key = "default/" + pod;
  record.container = container;
  record.init = init;
  record.assignment.cpus = *CpuSet::Parse(cpus);
  record.assignment.numa_nodes = CpuSet{0};
  record.assignment.mems = CpuSet{0};
  return record;
}

TEST(AllocatorRestore, ClaimsRecordsExactly) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<absl::Status> errors = allocator.Restore({Record("web", "app", "2-3")});

  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(CpusOf(allocator, "uid-web", "app"), "2-3");
  EXPECT_TRUE(allocator.HasPod("uid-web"));
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "2-3");
  std::vector<ContainerDecision> next = allocator.AddRequest(OneContainer("next", 2));
  EXPECT_EQ(next[0].assignment.cpus.ToString(), "0-1");
}

TEST(AllocatorRestore, RejectsOverlapUnknownAndReservedCpus) {
  Topology topology = BuildTopology(1, 4, 2);
  AllocatorOptions options;
  options.reserved_cpus = CpuSet{7};
  NodeAllocator allocator = MustCreate(topology, options);

  std::vector<absl::Status> errors = allocator.Restore({
      Record("web", "app", "2-3"),
      Record("db", "app", "3-4"),
      Record("cache", "app", "5,40"),
      Record("log", "app", "6-7"),
      Record("web", "app", "0"),
  });

  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].message().find("CPUs 3 are already assigned to pod default/web"),
            absl::string_view::npos)
      << errors[0];
  EXPECT_NE(errors[1].message().find("CPUs 40 are not in topology"), absl::string_view::npos)
      << errors[1];
  EXPECT_NE(errors[2].message().find("CPUs 7 are reserved"), absl::string_view::npos) << errors[2];
  EXPECT_NE(errors[3].message().find("already has CPUs 2-3"), absl::string_view::npos) << errors[3];
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "2-3");
  EXPECT_FALSE(allocator.HasPod("uid-db"));
}

TEST(AllocatorRestore, RejectsCpusNoLongerAssignable) {
  std::vector<Core> cores(2);
  cores[0].cpus = CpuSet{0, 1};
  cores[1].cpus = CpuSet{2, 3};
  absl::StatusOr<Topology> topology = Topology::Build(
      "test", cores, {}, {{.id = 0, .cpus = {}, .memory_bytes = 1 << 30}}, CpuSet{0, 1, 2}, {});
  ASSERT_TRUE(topology.ok()) << topology.status();
  NodeAllocator allocator = MustCreate(*topology);

  std::vector<absl::Status> errors = allocator.Restore({Record("web", "app", "2-3")});

  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message().find("CPUs 3 are no longer online and allowed"),
            absl::string_view::npos)
      << errors[0];
}

TEST(AllocatorRestore, RejectsRecordThatEmptiesTheSharedPool) {
  Topology topology = BuildTopology(1, 2, 2);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<absl::Status> errors = allocator.Restore({Record("web", "app", "0-3")});

  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message().find("would empty the shared pool"), absl::string_view::npos)
      << errors[0];
  EXPECT_TRUE(allocator.ExclusiveCpus().Empty());
}

TEST(AllocatorRestore, InitAndAppOfOnePodMayOverlap) {
  Topology topology = BuildTopology(1, 4, 2);
  NodeAllocator allocator = MustCreate(topology);

  std::vector<absl::Status> errors = allocator.Restore(
      {Record("web", "setup", "0-3", /*init=*/true), Record("web", "app", "0-1")});

  EXPECT_TRUE(errors.empty()) << errors[0];
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-3");
  EXPECT_EQ(allocator.FinishInit("uid-web").ToString(), "2-3");
  EXPECT_EQ(allocator.ExclusiveCpus().ToString(), "0-1");
}

}  // namespace
}  // namespace numapin
