// ParseCpuManagerState: the kubelet's static policy checkpoint and the formats it rejects.
#include "daemon/state/cpu_manager_state.h"

#include <gtest/gtest.h>

namespace numapin {
namespace {

TEST(CpuManagerStateParse, ReadsStaticPolicyEntries) {
  absl::StatusOr<CpuManagerState> state =
      ParseCpuManagerState(R"({"policyName":"static","defaultCpuSet":"0-1,4","entries":)"
                           R"({"pod-a":{"app":"2-3","side":"5"}},"checksum":123})");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->policy_name, "static");
  EXPECT_EQ(state->default_cpuset.ToString(), "0-1,4");
  ASSERT_EQ(state->entries.count("pod-a"), 1u);
  EXPECT_EQ(state->entries.at("pod-a").at("app").ToString(), "2-3");
  EXPECT_EQ(state->entries.at("pod-a").at("side").ToString(), "5");
}

TEST(CpuManagerStateParse, AcceptsNoEntries) {
  absl::StatusOr<CpuManagerState> state =
      ParseCpuManagerState(R"({"policyName":"static","defaultCpuSet":"0-7","checksum":1})");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE(state->entries.empty());
}

TEST(CpuManagerStateParse, RejectsNonePolicy) {
  absl::StatusOr<CpuManagerState> state =
      ParseCpuManagerState(R"({"policyName":"none","defaultCpuSet":"","checksum":1})");
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.status().message().find("none"), absl::string_view::npos) << state.status();
}

TEST(CpuManagerStateParse, RejectsOldFormatKeyedByContainerId) {
  absl::StatusOr<CpuManagerState> state = ParseCpuManagerState(
      R"({"policyName":"static","defaultCpuSet":"0","entries":{"4a1b2c":"2-3"}})");
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.status().message().find("old format"), absl::string_view::npos) << state.status();
}

TEST(CpuManagerStateParse, RejectsInvalidJson) {
  EXPECT_FALSE(ParseCpuManagerState("{\"policyName\":").ok());
  EXPECT_FALSE(ParseCpuManagerState("").ok());
  EXPECT_FALSE(ParseCpuManagerState("[]").ok());
}

TEST(CpuManagerStateParse, InvalidJsonSaysSo) {
  absl::StatusOr<CpuManagerState> truncated = ParseCpuManagerState("{\"policyName\":");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("not valid JSON"), absl::string_view::npos)
      << truncated.status();

  absl::StatusOr<CpuManagerState> array = ParseCpuManagerState("[]");
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.status().message().find("is a JSON array"), absl::string_view::npos)
      << array.status();
}

TEST(CpuManagerStateRead, MissingFileNamesFlag) {
  absl::StatusOr<CpuManagerState> state = ReadCpuManagerState("/nonexistent/cpu_manager_state");
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.status().code(), absl::StatusCode::kNotFound) << state.status();
  EXPECT_NE(state.status().message().find("--cpu-manager-state"), absl::string_view::npos)
      << state.status();
}

TEST(CpuManagerStateParse, RejectsBadCpuListNamingEntry) {
  absl::StatusOr<CpuManagerState> state = ParseCpuManagerState(
      R"({"policyName":"static","defaultCpuSet":"0","entries":{"pod-a":{"app":"2-x"}}})");
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.status().message().find("pod-a/app"), absl::string_view::npos) << state.status();
}

}  // namespace
}  // namespace numapin
