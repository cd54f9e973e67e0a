// numapinctl simulate: the shipped example run through the binary, and SimulateEvents on crafted
// event lines (malformed lines, uids derived from names, the shared pool at each moment).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/unit/fixtures.h"
#include "tools/numapinctl/commands.h"

namespace numapin {
namespace {

using nlohmann::json;
using numapin::testing::MustLoadTopology;
using numapin::testing::TopologyFixture;
using ::testing::HasSubstr;

struct RunResult {
  int exit_status = -1;
  std::vector<json> lines;  // stdout, one JSON value a line.
  std::string stderr_text;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs build/bin/numapinctl with `args` from the source directory, so relative paths resolve.
RunResult RunNumapinctl(const std::string& args) {
  std::string base = ::testing::TempDir() + "numapinctl-" + std::to_string(getpid());
  std::string command = "cd " NUMAPIN_SOURCE_DIR " && " NUMAPIN_BINARY_DIR "/bin/numapinctl " +
                        args + " >" + base + ".out 2>" + base + ".err";
  RunResult result;
  int status = std::system(command.c_str());
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream out(ReadFile(base + ".out"));
  for (std::string line; std::getline(out, line);) {
    result.lines.push_back(json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  result.stderr_text = ReadFile(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return result;
}

CpuSet Cpus(const json& line, const char* field = "cpus") {
  absl::StatusOr<CpuSet> cpus = CpuSet::Parse(line.at(field).get<std::string>());
  EXPECT_TRUE(cpus.ok()) << line.dump();
  return cpus.ok() ? *cpus : CpuSet();
}

const std::string kInterleaved = "--topology=xml:tests/fixtures/topologies/24em64t-2n6c2t-pci.xml";

TEST(SimulateExample, DecisionsOnInterleavedTopology) {
  RunResult run = RunNumapinctl("simulate " + kInterleaved + " examples/simulate-events.jsonl");
  ASSERT_EQ(run.exit_status, 0) << run.stderr_text;
  ASSERT_EQ(run.lines.size(), 10u) << run.stderr_text;
  for (const json& line : run.lines) ASSERT_FALSE(line.is_discarded());

  const json& db = run.lines[0];
  EXPECT_EQ(db["pod"], "default/db");
  EXPECT_EQ(db["container"], "postgres");
  EXPECT_EQ(db["exclusive"], true);
  EXPECT_EQ(Cpus(db).Size(), 4);
  EXPECT_EQ(db["numa_nodes"], json::array({0}));
  EXPECT_EQ(db["mems"], "0");
  EXPECT_TRUE(db["error"].is_null());
  Cpus(db).ForEach([](int cpu) { EXPECT_EQ(cpu % 2, 0) << "node 0 holds the even CPUs"; });

  const json& web = run.lines[1];
  EXPECT_EQ(web["pod"], "default/web");
  EXPECT_EQ(web["exclusive"], true);
  EXPECT_EQ(Cpus(web).Size(), 2);
  EXPECT_EQ(web["numa_nodes"], json::array({1})) << "PreferredNUMANodeId: 1";
  EXPECT_EQ(web["mems"], "1");
  Cpus(web).ForEach([](int cpu) { EXPECT_EQ(cpu % 2, 1) << "node 1 holds the odd CPUs"; });

  const json& warmup = run.lines[2];
  const json& redis = run.lines[3];
  EXPECT_EQ(warmup["container"], "warmup");
  EXPECT_EQ(warmup["init"], true);
  EXPECT_EQ(Cpus(warmup).Size(), 4);
  EXPECT_EQ(redis["container"], "redis");
  EXPECT_EQ(redis["init"], false);
  EXPECT_EQ(Cpus(redis).Size(), 2);
  EXPECT_TRUE(Cpus(redis).IsSubsetOf(Cpus(warmup))) << "app containers reuse init CPUs";

  const json& batch = run.lines[4];
  EXPECT_EQ(batch["pod"], "default/batch");
  EXPECT_EQ(batch["qos"], "Burstable");
  EXPECT_EQ(batch["exclusive"], false);
  EXPECT_TRUE(batch["error"].is_null());
  EXPECT_FALSE(Cpus(batch).Intersects(Cpus(db))) << "the shared pool excludes exclusive CPUs";
  EXPECT_FALSE(Cpus(batch).Intersects(Cpus(warmup)));
  EXPECT_EQ(batch["numa_nodes"], json::array({0, 1}));

  const json& typo = run.lines[5];
  EXPECT_EQ(typo["pod"], "default/typo");
  EXPECT_EQ(typo["exclusive"], false);
  ASSERT_TRUE(typo["error"].is_string());
  EXPECT_THAT(typo["error"].get<std::string>(), HasSubstr("PreferredNUMANodeId \"one\""));
  EXPECT_EQ(typo["cpus"], batch["cpus"]) << "a rejected pod runs in the shared pool";

  const json& half = run.lines[6];
  ASSERT_TRUE(half["error"].is_string());
  EXPECT_THAT(half["error"].get<std::string>(), HasSubstr("resources.requests.cpu \"1.5\""));

  const json& init_done = run.lines[7];
  EXPECT_EQ(init_done["init_done"], "default/cache");
  EXPECT_EQ(Cpus(init_done, "released"), Cpus(warmup).Difference(Cpus(redis)));

  const json& wide = run.lines[8];
  EXPECT_EQ(wide["pod"], "default/wide");
  EXPECT_EQ(wide["exclusive"], false);
  EXPECT_TRUE(wide["error"].is_string()) << "14 CPUs strictly on one 12-CPU node cannot fit";

  const json& deleted = run.lines[9];
  EXPECT_EQ(deleted["deleted"], "default/db");
  EXPECT_EQ(Cpus(deleted, "released"), Cpus(db));
  EXPECT_TRUE(Cpus(db).IsSubsetOf(Cpus(deleted, "shared_pool")));
}

TEST(SimulateExample, ReservedCpusNeverExclusive) {
  RunResult run = RunNumapinctl("simulate " + kInterleaved +
                                " --reserved-cpus=0,12 examples/simulate-events.jsonl");
  ASSERT_EQ(run.exit_status, 0) << run.stderr_text;
  CpuSet reserved{0, 12};
  for (const json& line : run.lines) {
    if (line.value("exclusive", false)) {
      EXPECT_FALSE(Cpus(line).Intersects(reserved)) << line.dump();
    }
  }
}

// Nodes 0 and 1 have 12 CPUs each; after 8 + 8 exclusive CPUs, a 6-CPU container fits on no
// single node.
TEST(SimulateCommand, SpillOnShortageFlag) {
  std::string path = ::testing::TempDir() + "simulate-spill-" + std::to_string(getpid()) + ".jsonl";
  auto add = [](const std::string& name, const std::string& cpu) {
    return nlohmann::json::parse(
               R"({"op":"add","pod":{"metadata":{"name":")" + name +
               R"("},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":")" + cpu +
               R"(","memory":"1Gi"}}}]}}})")
               .dump() +
           "\n";
  };
  std::ofstream(path) << add("a", "8") << add("b", "8") << add("c", "6");

  RunResult waits = RunNumapinctl("simulate " + kInterleaved + " " + path);
  RunResult spills = RunNumapinctl("simulate " + kInterleaved + " --spill-on-shortage " + path);
  std::remove(path.c_str());
  ASSERT_EQ(waits.exit_status, 0) << waits.stderr_text;
  ASSERT_EQ(spills.exit_status, 0) << spills.stderr_text;
  ASSERT_EQ(waits.lines.size(), 3u);
  ASSERT_EQ(spills.lines.size(), 3u);
  EXPECT_EQ(waits.lines[2]["exclusive"], false) << waits.lines[2].dump();
  EXPECT_TRUE(waits.lines[2]["error"].is_string());
  EXPECT_EQ(spills.lines[2]["exclusive"], true) << spills.lines[2].dump();
  EXPECT_EQ(spills.lines[2]["numa_nodes"], json::array({0, 1}));
  EXPECT_EQ(Cpus(spills.lines[2]).Size(), 6);
}

// An add event line for pod `name` with one container of `cpus` CPUs, on NUMA node `node` when
// it is set.
std::string AddLine(const std::string& name, int cpus, int node = -1) {
  json pod = json::parse(R"({"metadata":{},"spec":{"containers":[{"name":"c","resources":{}}]}})");
  pod["metadata"]["name"] = name;
  if (node >= 0) pod["metadata"]["annotations"]["PreferredNUMANodeId"] = std::to_string(node);
  pod["spec"]["containers"][0]["resources"]["limits"] = {{"cpu", std::to_string(cpus)},
                                                         {"memory", "1Gi"}};
  return json{{"op", "add"}, {"pod", pod}}.dump() + "\n";
}

// Node 0 has the even CPUs, siblings 12 apart. A 9-CPU container there leaves free CPU 20 (its
// sibling) and the fresh core 10,22. An 11-CPU container leaves only CPU 23 of node 1, so that
// the shared pool keeps a CPU. A 3-CPU container then fits only by taking CPU 20.
TEST(SimulateCommand, SpareUnsharedCoresFlag) {
  std::string path = ::testing::TempDir() + "simulate-spare-" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(path) << AddLine("a", 9, 0) << AddLine("b", 11, 1) << AddLine("c", 3);

  RunResult spares = RunNumapinctl("simulate " + kInterleaved + " " + path);
  RunResult shares =
      RunNumapinctl("simulate " + kInterleaved + " --spare-unshared-cores=false " + path);
  std::remove(path.c_str());
  ASSERT_EQ(spares.exit_status, 0) << spares.stderr_text;
  ASSERT_EQ(shares.exit_status, 0) << shares.stderr_text;
  ASSERT_EQ(spares.lines.size(), 3u);
  ASSERT_EQ(shares.lines.size(), 3u);
  EXPECT_EQ(spares.lines[2]["exclusive"], false) << spares.lines[2].dump();
  EXPECT_THAT(spares.lines[2]["error"].get<std::string>(), HasSubstr("spared as SMT siblings"));
  EXPECT_EQ(shares.lines[2]["exclusive"], true) << shares.lines[2].dump();
  EXPECT_EQ(Cpus(shares.lines[2]).ToString(), "10,20,22");
}

// With node 1 down to 4 free CPUs, best fit puts a 2-CPU container there. With
// --keep-node-holes it goes to node 0, which keeps more than half a node (6 CPUs) free.
TEST(SimulateCommand, KeepNodeHolesFlag) {
  std::string path = ::testing::TempDir() + "simulate-holes-" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(path) << AddLine("a", 8, 1) << AddLine("b", 2);

  RunResult keeps = RunNumapinctl("simulate " + kInterleaved + " --keep-node-holes " + path);
  RunResult fits = RunNumapinctl("simulate " + kInterleaved + " " + path);
  std::remove(path.c_str());
  ASSERT_EQ(keeps.exit_status, 0) << keeps.stderr_text;
  ASSERT_EQ(fits.exit_status, 0) << fits.stderr_text;
  ASSERT_EQ(keeps.lines.size(), 2u);
  ASSERT_EQ(fits.lines.size(), 2u);
  EXPECT_EQ(keeps.lines[1]["numa_nodes"], json::array({0})) << keeps.lines[1].dump();
  EXPECT_EQ(fits.lines[1]["numa_nodes"], json::array({1})) << fits.lines[1].dump();
}

// An 11-CPU container on node 0 leaves only CPU 22, its spared sibling. A 9-CPU container on
// node 1 leaves its sibling 21 and the fresh core 11,23. 2 of 24 CPUs are left for containers of
// 2 CPUs or more, so the node is nearly full at the default mark, and a 1-CPU container takes
// CPU 22 rather than split the fresh core. 50% of the 2 live containers lets one share a core.
TEST(SimulateCommand, NearlyFullPercentFlag) {
  std::string path =
      ::testing::TempDir() + "simulate-nearly-full-" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(path) << AddLine("a", 11, 0) << AddLine("b", 9, 1) << AddLine("c", 1);

  const std::string budget = " --sharing-budget-percent=50 ";
  RunResult packs = RunNumapinctl("simulate " + kInterleaved + budget + path);
  RunResult splits =
      RunNumapinctl("simulate " + kInterleaved + budget + "--nearly-full-percent=0 " + path);
  std::remove(path.c_str());
  ASSERT_EQ(packs.exit_status, 0) << packs.stderr_text;
  ASSERT_EQ(splits.exit_status, 0) << splits.stderr_text;
  ASSERT_EQ(packs.lines.size(), 3u);
  ASSERT_EQ(splits.lines.size(), 3u);
  EXPECT_EQ(Cpus(packs.lines[2]).ToString(), "22") << packs.lines[2].dump();
  EXPECT_EQ(Cpus(splits.lines[2]).ToString(), "11") << splits.lines[2].dump();
}

TEST(SimulateCommand, MalformedLineFailsExitStatus) {
  std::string path = ::testing::TempDir() + "simulate-bad-" + std::to_string(getpid()) + ".jsonl";
  std::ofstream(path)
      << "{\"op\":\"add\"\n"
      << R"({"op":"add","pod":{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c"}]}}})"
      << "\n";
  RunResult run = RunNumapinctl("simulate " + kInterleaved + " " + path);
  std::remove(path.c_str());
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_THAT(run.stderr_text, HasSubstr(path + ":1: invalid JSON"));
  ASSERT_EQ(run.lines.size(), 1u) << "the good line after the bad one still runs";
  EXPECT_EQ(run.lines[0]["pod"], "default/a");
}

TEST(SimulateCommand, UsageErrors) {
  RunResult bad_reserved = RunNumapinctl("simulate " + kInterleaved + " --reserved-cpus=x -");
  EXPECT_EQ(bad_reserved.exit_status, 2);
  EXPECT_THAT(bad_reserved.stderr_text, HasSubstr("--reserved-cpus"));
  EXPECT_THAT(bad_reserved.stderr_text, HasSubstr("\"x\""));

  RunResult missing = RunNumapinctl("simulate " + kInterleaved + " /nonexistent/events.jsonl");
  EXPECT_EQ(missing.exit_status, 2);
  EXPECT_THAT(missing.stderr_text, HasSubstr("cannot open events file /nonexistent/events.jsonl"));
  EXPECT_THAT(missing.stderr_text, HasSubstr("No such file or directory"));

  RunResult unknown = RunNumapinctl("simulate --reserve=0");
  EXPECT_EQ(unknown.exit_status, 2);
  EXPECT_THAT(unknown.stderr_text, HasSubstr("unknown flag \"--reserve=0\""));
  EXPECT_THAT(unknown.stderr_text, HasSubstr("--reserved-cpus"));

  RunResult bad_mark = RunNumapinctl("simulate " + kInterleaved + " --nearly-full-percent=x -");
  EXPECT_EQ(bad_mark.exit_status, 2);
  EXPECT_THAT(bad_mark.stderr_text, HasSubstr("--nearly-full-percent: invalid number \"x\""));

  RunResult high_mark =
      RunNumapinctl("simulate " + kInterleaved + " --nearly-full-percent=101 /dev/null");
  EXPECT_EQ(high_mark.exit_status, 2);
  EXPECT_THAT(high_mark.stderr_text, HasSubstr("invalid nearly-full mark 101%"));

  RunResult command = RunNumapinctl("simulat");
  EXPECT_EQ(command.exit_status, 2);
  EXPECT_THAT(command.stderr_text, HasSubstr("unknown command \"simulat\""));
}

// SimulateEvents on an in-memory event stream over the interleaved two-node topology.
class SimulateEventsTest : public ::testing::Test {
 protected:
  SimulateEventsTest()
      : topology_(MustLoadTopology(TopologyFixture("24em64t-2n6c2t-pci.xml"))),
        allocator_(NodeAllocator::Create(topology_, {})) {}

  int Run(const std::string& events) {
    EXPECT_TRUE(allocator_.ok()) << allocator_.status();
    std::istringstream in(events);
    std::ostringstream out;
    std::ostringstream err;
    int failed = ctl::SimulateEvents(*allocator_, in, "events", out, err);
    errors_ = err.str();
    lines_.clear();
    std::istringstream output(out.str());
    for (std::string line; std::getline(output, line);) lines_.push_back(json::parse(line));
    return failed;
  }

  Topology topology_;
  absl::StatusOr<NodeAllocator> allocator_;
  std::vector<json> lines_;
  std::string errors_;
};

std::string AddEvent(const std::string& name, const std::string& cpu, const std::string& uid = "") {
  json pod = {
      {"metadata", {{"namespace", "team"}, {"name", name}}},
      {"spec",
       {{"containers",
         {{{"name", "main"}, {"resources", {{"limits", {{"cpu", cpu}, {"memory", "1Gi"}}}}}}}}}}};
  if (!uid.empty()) pod["metadata"]["uid"] = uid;
  return json({{"op", "add"}, {"pod", pod}}).dump() + "\n";
}

std::string NamedEvent(const std::string& op, const std::string& name) {
  return json({{"op", op}, {"pod", {{"metadata", {{"namespace", "team"}, {"name", name}}}}}})
             .dump() +
         "\n";
}

TEST_F(SimulateEventsTest, MalformedLinesNameLineAndContinue) {
  int failed =
      Run("not json\n"
          "[1]\n"
          "{\"op\":\"ad\",\"pod\":{}}\n"
          "{\"op\":\"add\"}\n" +
          AddEvent("bad", "two") + "\n# a comment line\n" + AddEvent("good", "2") +
          NamedEvent("delete", "ghost"));
  EXPECT_EQ(failed, 6);
  EXPECT_THAT(errors_, HasSubstr("events:1: invalid JSON"));
  EXPECT_THAT(errors_, HasSubstr("events:2: the event is a JSON array"));
  EXPECT_THAT(errors_, HasSubstr("events:3: op is \"ad\"; expected \"add\", \"delete\""));
  EXPECT_THAT(errors_, HasSubstr("events:4: \"pod\" is missing"));
  EXPECT_THAT(errors_, HasSubstr("events:5: pod team/bad container main"));
  EXPECT_THAT(errors_, HasSubstr("\"two\""));
  EXPECT_THAT(errors_, HasSubstr("events:9: pod team/ghost"));
  EXPECT_THAT(errors_, HasSubstr("is not known"));
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0]["pod"], "team/good");
  EXPECT_EQ(lines_[0]["exclusive"], true);
}

TEST_F(SimulateEventsTest, DeleteByNameFindsDerivedAndGivenUids) {
  int failed = Run(AddEvent("derived", "2") + AddEvent("given", "3", "uid-given") +
                   NamedEvent("delete", "derived") + NamedEvent("delete", "given"));
  EXPECT_EQ(failed, 0) << errors_;
  ASSERT_EQ(lines_.size(), 4u);
  EXPECT_EQ(lines_[2]["deleted"], "team/derived");
  EXPECT_EQ(Cpus(lines_[2], "released"), Cpus(lines_[0]));
  EXPECT_EQ(lines_[3]["deleted"], "team/given");
  EXPECT_EQ(Cpus(lines_[3], "released"), Cpus(lines_[1]));
  EXPECT_TRUE(allocator_->ExclusiveCpus().Empty());
}

TEST_F(SimulateEventsTest, SharedPoolShownAtThatMoment) {
  int failed = Run(AddEvent("early", "500m") + AddEvent("pinned", "4") + AddEvent("late", "500m"));
  EXPECT_EQ(failed, 0) << errors_;
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(Cpus(lines_[0]), topology_.assignable_cpus());
  EXPECT_EQ(Cpus(lines_[2]), topology_.assignable_cpus().Difference(Cpus(lines_[1])));
  EXPECT_EQ(lines_[2]["mems"], "0-1");
}

TEST_F(SimulateEventsTest, RepeatedAddKeepsAssignment) {
  int failed = Run(AddEvent("twice", "2") + AddEvent("twice", "2"));
  EXPECT_EQ(failed, 0) << errors_;
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0]["cpus"], lines_[1]["cpus"]);
  EXPECT_EQ(allocator_->ExclusiveCpus().Size(), 2);
}

TEST_F(SimulateEventsTest, InitDoneReleasesUnusedInitCpus) {
  json pod = json::parse(R"({"metadata":{"namespace":"team","name":"init"},"spec":{
      "initContainers":[{"name":"prep","resources":{"limits":{"cpu":"6","memory":"1Gi"}}}],
      "containers":[{"name":"main","resources":{"limits":{"cpu":"2","memory":"1Gi"}}}]}})");
  int failed = Run(json({{"op", "add"}, {"pod", pod}}).dump() + "\n" +
                   NamedEvent("init_done", "init") + NamedEvent("init_done", "missing"));
  EXPECT_EQ(failed, 1);
  EXPECT_THAT(errors_, HasSubstr("events:3: pod team/missing"));
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[2]["init_done"], "team/init");
  EXPECT_EQ(Cpus(lines_[2], "released").Size(), 4);
  EXPECT_EQ(allocator_->ExclusiveCpus(), Cpus(lines_[1]));
}

}  // namespace
}  // namespace numapin
