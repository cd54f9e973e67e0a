// The state dump: which snapshot changes change it, its text, and its write.
#include "daemon/core/state_dump.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"

namespace numapin {
namespace {

DaemonSnapshot TwoContainers() {
  DaemonSnapshot snapshot;
  snapshot.mode = "allocate";
  snapshot.first_sync_done = true;
  for (const char* name : {"app", "sidecar"}) {
    ContainerState container;
    container.namespace_name = "default";
    container.pod = "web";
    container.pod_uid = "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";
    container.container = name;
    container.cpus = CpuSet{1};
    container.cgroup_path = std::string("/sys/fs/cgroup/cpuset/kubepods/pod/") + name;
    snapshot.containers.push_back(container);
  }
  snapshot.repins["new"] = 2;
  return snapshot;
}

TEST(DumpedState, IgnoresCountersAndTime) {
  DaemonSnapshot before = TwoContainers();
  DaemonSnapshot after = before;
  after.taken_unix_nanos += 1000000000;
  after.containers[0].counters.allowed_ns = 5000;
  after.cpus.push_back(CpuState{});
  after.bpf_events_dropped = 3;

  EXPECT_EQ(DumpedStateOf(before), DumpedStateOf(after));
}

TEST(DumpedState, FoundCgroupChangesIt) {
  DaemonSnapshot before = TwoContainers();
  before.containers[1].cgroup_path = "";
  DaemonSnapshot after = TwoContainers();

  EXPECT_FALSE(DumpedStateOf(before) == DumpedStateOf(after));
}

TEST(DumpedState, RepinChangesIt) {
  DaemonSnapshot before = TwoContainers();
  DaemonSnapshot after = before;
  ++after.repins["cpuset"];

  EXPECT_FALSE(DumpedStateOf(before) == DumpedStateOf(after));
}

TEST(DumpText, ShowsContainersAndCounts) {
  nlohmann::json dump = nlohmann::json::parse(DumpText(DumpedStateOf(TwoContainers())));

  EXPECT_EQ(dump["mode"], "allocate");
  EXPECT_EQ(dump["first_sync_done"], true);
  EXPECT_EQ(dump["repins"]["new"], 2);
  ASSERT_EQ(dump["containers"].size(), 2u);
  EXPECT_EQ(dump["containers"][0]["pod"], "default/web");
  EXPECT_EQ(dump["containers"][1]["container"], "sidecar");
  EXPECT_EQ(dump["containers"][1]["cpus"], "1");
  EXPECT_EQ(dump["containers"][1]["cgroup"], "/sys/fs/cgroup/cpuset/kubepods/pod/sidecar");
}

TEST(WriteDump, ReplacesFile) {
  char pattern[] = "/tmp/numapin-dump-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string path = std::string(pattern) + "/dump.json";

  const absl::Status first = WriteDump(path, "{\"a\": 1}");
  const absl::Status second = WriteDump(path, "{\"a\": 2}");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const bool temporary_left = std::filesystem::exists(path + ".tmp");
  std::filesystem::remove_all(pattern);

  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(second.ok()) << second;
  EXPECT_EQ(text.str(), "{\"a\": 2}");
  EXPECT_FALSE(temporary_left);
}

TEST(WriteDump, MissingDirectoryFails) {
  const absl::Status status = WriteDump("/nonexistent-numapin-dir/dump.json", "{}");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent-numapin-dir/dump.json"), absl::string_view::npos)
      << status;
  EXPECT_NE(status.message().find("No such file or directory"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("--dump-state-file"), absl::string_view::npos) << status;
}

}  // namespace
}  // namespace numapin
