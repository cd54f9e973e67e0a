// numapinctl's flag parser and the topology report, text and JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/unit/fixtures.h"
#include "tools/numapinctl/commands.h"
#include "tools/numapinctl/flags.h"

namespace numapin::ctl {
namespace {

using numapin::testing::MustLoadTopology;
using numapin::testing::TopologyFixture;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kSpecs = {
    {"topology", false, "host", "topology source"},
    {"reserved-cpus", false, "", "reserved CPUs"},
    {"full-pcpus-only", true, "", "whole cores"},
};

TEST(ParseArgs, DefaultsAndForms) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs({"--reserved-cpus", "0-1", "events.jsonl", "--full-pcpus-only"}, kSpecs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("topology"), "host");
  EXPECT_EQ(parsed->Get("reserved-cpus"), "0-1");
  EXPECT_TRUE(parsed->GetBool("full-pcpus-only"));
  EXPECT_FALSE(parsed->help);
  ASSERT_EQ(parsed->positional.size(), 1u);
  EXPECT_EQ(parsed->positional[0], "events.jsonl");
}

TEST(ParseArgs, EqualsFormAndDoubleDash) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs({"--topology=xml:a.xml", "--full-pcpus-only=false", "--", "--not-a-flag"}, kSpecs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("topology"), "xml:a.xml");
  EXPECT_FALSE(parsed->GetBool("full-pcpus-only"));
  ASSERT_EQ(parsed->positional.size(), 1u);
  EXPECT_EQ(parsed->positional[0], "--not-a-flag");
}

TEST(ParseArgs, StdinDashIsPositional) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs({"-"}, kSpecs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->positional.size(), 1u);
  EXPECT_EQ(parsed->positional[0], "-");
}

TEST(ParseArgs, RejectsUnknownAndMissing) {
  absl::StatusOr<ParsedArgs> unknown = ParseArgs({"--topolgy=host"}, kSpecs);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("\"--topolgy=host\""));
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("--topology"));

  absl::StatusOr<ParsedArgs> missing = ParseArgs({"--reserved-cpus"}, kSpecs);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("--reserved-cpus=VALUE"));

  absl::StatusOr<ParsedArgs> boolean = ParseArgs({"--full-pcpus-only=yes"}, kSpecs);
  ASSERT_FALSE(boolean.ok());
  EXPECT_THAT(std::string(boolean.status().message()), HasSubstr("\"yes\""));
}

TEST(ParseArgs, HelpFlag) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs({"-h"}, kSpecs);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->help);
}

TEST(TopologyReport, TextShowsInterleavedNodes) {
  std::string text = TopologyText(MustLoadTopology(TopologyFixture("24em64t-2n6c2t-pci.xml")));
  EXPECT_THAT(text, HasSubstr("node 0: cpus 0,2,4,6,8,10,12,14,16,18,20,22, memory 18.0 GiB"));
  EXPECT_THAT(text, HasSubstr("node 1: cpus 1,3,5,7,9,11,13,15,17,19,21,23"));
  EXPECT_THAT(text, HasSubstr("core 0: cpus 0,12, node 0, package 0, L3 0"));
  EXPECT_THAT(text, HasSubstr("core 6: cpus 1,13, node 1, package 1, L3 1"));
  EXPECT_THAT(text, HasSubstr("L3 1: cpus 1,3,5,7,9,11,13,15,17,19,21,23"));
  EXPECT_THAT(text, HasSubstr("package 1: cpus 1,3,5,7,9,11,13,15,17,19,21,23, nodes 1"));
  EXPECT_THAT(text, HasSubstr("SMT width: 2"));
  EXPECT_THAT(text, HasSubstr("     0   10   20\n"));
}

TEST(TopologyReport, JsonMatchesTopology) {
  Topology topology = MustLoadTopology(TopologyFixture("16amd64-4distances.xml"));
  nlohmann::json report = nlohmann::json::parse(TopologyJson(topology));
  ASSERT_EQ(report["nodes"].size(), 8u);
  EXPECT_EQ(report["nodes"][0]["id"], 0);
  EXPECT_EQ(report["nodes"][0]["cpus"], "2-3") << "NUMA order differs from CPU order";
  EXPECT_EQ(report["nodes"][1]["cpus"], "0-1");
  EXPECT_GT(report["nodes"][0]["memory_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(report["cores"].size(), topology.cores().size());
  EXPECT_EQ(report["assignable_cpus"], "0-15");
  EXPECT_EQ(report["distances_reported"], true);
  ASSERT_EQ(report["distances"].size(), 8u);
  EXPECT_EQ(report["distances"][0].size(), 8u);
  EXPECT_EQ(report["distances"][0][0], 10);
  EXPECT_EQ(report["distances"][0][4], 20);
  EXPECT_EQ(report["nodes"][3]["distances"], report["distances"][3]);
  EXPECT_FALSE(report["packages"].empty());
}

TEST(TopologyCommand, RejectsUnknownOutput) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunTopology({"--output=yaml"}, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("--output=yaml"));
  EXPECT_THAT(err.str(), HasSubstr("text or json"));
}

TEST(TopologyCommand, RejectsBadSource) {
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunTopology({"--topology=xml:/nonexistent.xml"}, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("/nonexistent.xml"));
  EXPECT_TRUE(out.str().empty());
}

TEST(TopologyCommand, PrintsSyntheticJson) {
  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(
      RunTopology({"--topology=synthetic:package:2 numa:1 core:2 pu:2", "--output=json"}, out, err),
      kExitOk)
      << err.str();
  nlohmann::json report = nlohmann::json::parse(out.str());
  EXPECT_EQ(report["nodes"].size(), 2u);
  EXPECT_EQ(report["smt_width"], 2);
}

}  // namespace
}  // namespace numapin::ctl
