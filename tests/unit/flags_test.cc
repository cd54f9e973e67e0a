// ParseFlags: dashed flag names, defaults, and rejection of invalid values naming the flag.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/core/options.h"

namespace numapin {
namespace {

absl::StatusOr<DaemonOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "numapind");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return ParseFlags(static_cast<int>(argv.size()), argv.data());
}

// absl flags keep their values between parses, so every case names each flag it checks.
TEST(ParseFlags, AcceptsDashedNames) {
  absl::StatusOr<DaemonOptions> options =
      Parse({"--mode=observe", "--pod-source=dir:/tmp/pods", "--cgroup-root=/x",
             "--reserved-cpus=0-1", "--readback-interval=250ms", "--set-mems=on",
             "--exclusive-cfs-quota=unlimited", "--log-format=json", "--monitor=off"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->mode, DaemonMode::kObserve);
  EXPECT_EQ(options->pod_source.spec, "dir:/tmp/pods");
  EXPECT_EQ(options->cgroup_root, "/x");
  EXPECT_EQ(options->allocator.reserved_cpus.ToString(), "0-1");
  EXPECT_EQ(options->readback_interval, absl::Milliseconds(250));
  EXPECT_EQ(options->set_mems, Tristate::kOn);
  EXPECT_EQ(options->exclusive_cfs_quota, CfsQuotaPolicy::kUnlimited);
  EXPECT_EQ(options->log_format, log::Format::kJson);
  EXPECT_EQ(options->monitor, Tristate::kOff);
  EXPECT_FALSE(options->Writes()) << "observe without --repair writes nothing";
}

TEST(ParseFlags, AllocatorPercentages) {
  absl::StatusOr<DaemonOptions> options =
      Parse({"--sharing-budget-percent=0", "--nearly-full-percent=25"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->allocator.sharing_budget_percent, 0);
  EXPECT_EQ(options->allocator.nearly_full_percent, 25);

  options = Parse({"--sharing-budget-percent=30", "--nearly-full-percent=16"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->allocator.sharing_budget_percent, AllocatorOptions().sharing_budget_percent);
  EXPECT_EQ(options->allocator.nearly_full_percent, AllocatorOptions().nearly_full_percent);
}

TEST(ParseFlags, SetMemsAutoFollowsHostTopology) {
  absl::StatusOr<DaemonOptions> options =
      Parse({"--mode=allocate", "--set-mems=auto", "--topology=host"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->ManageMems());
  options = Parse({"--set-mems=auto", "--topology=synthetic:numa:2 core:1 pu:1"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->ManageMems());
}

TEST(ParseFlags, SetMemsAutoIsOffInObserveMode) {
  absl::StatusOr<DaemonOptions> options =
      Parse({"--mode=observe", "--set-mems=auto", "--topology=host"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->ManageMems()) << "the kubelet owns cpuset.mems in observe mode";
  options = Parse({"--mode=observe", "--set-mems=on", "--topology=host"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->ManageMems()) << "an explicit --set-mems=on still applies";
}

TEST(ParseFlags, RejectsInvalidValuesNamingFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--mode=fast", "--mode"},
      {"--pod-source=api", "--pod-source"},
      {"--set-mems=maybe", "--set-mems"},
      {"--exclusive-cfs-quota=half", "--exclusive-cfs-quota"},
      {"--log-format=xml", "--log-format"},
      {"--reserved-cpus=a-b", "--reserved-cpus"},
      {"--readback-interval=0s", "--readback-interval"},
      {"--sharing-budget-percent=101", "--sharing-budget-percent"},
      {"--nearly-full-percent=-1", "--nearly-full-percent"},
  };
  for (const auto& [arg, flag] : cases) {
    absl::StatusOr<DaemonOptions> options =
        Parse({"--mode=allocate", "--pod-source=kubelet", "--set-mems=auto",
               "--reserved-cpus=", "--readback-interval=1s", "--exclusive-cfs-quota=keep",
               "--log-format=text", "--monitor=auto", "--sharing-budget-percent=30",
               "--nearly-full-percent=16", arg});
    ASSERT_FALSE(options.ok()) << arg;
    EXPECT_NE(options.status().message().find(flag), absl::string_view::npos)
        << arg << ": " << options.status();
  }
}

}  // namespace
}  // namespace numapin
