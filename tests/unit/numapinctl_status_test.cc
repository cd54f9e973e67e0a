// Tests of `numapinctl status`: the CPU map text, and RunStatus against a real MetricsServer on
// loopback, including the error when numapind is not there.
#include "tools/numapinctl/status.h"

#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "daemon/metrics/http_server.h"
#include "daemon/metrics/status_json.h"
#include "tests/fakes/snapshot_fixture.h"

namespace numapin {
namespace {

using ctl::RunStatus;
using ctl::StatusText;

std::string MapText(const DaemonSnapshot& snapshot) {
  absl::StatusOr<std::string> text =
      StatusText(StatusJson(snapshot), absl::FromUnixNanos(snapshot.taken_unix_nanos) +
                                           absl::Seconds(3));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

TEST(StatusText, HeaderSummarizesDaemon) {
  const std::string text = MapText(MakeTestSnapshot());
  EXPECT_TRUE(absl::StartsWith(
      text, "numapind on worker-1: allocate mode, snapshot 3s old, ready, BPF monitor up\n"))
      << text;
}

TEST(StatusText, HeaderWithoutNodeNameOrAge) {
  DaemonSnapshot snapshot = MakeTestSnapshot();
  snapshot.node_name = "";
  absl::StatusOr<std::string> text =
      StatusText(StatusJson(snapshot), absl::FromUnixNanos(snapshot.taken_unix_nanos));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(absl::StartsWith(*text, "numapind: allocate mode, snapshot 0s old, ready")) << *text;
}

TEST(StatusText, OneRowPerNumaNode) {
  const std::string text = MapText(MakeTestSnapshot());
  // 16 CPUs on 2 nodes: reserved 0-1, pod-0 2-3 (A), pod-1 4-5 (B), pod-3 6-7 (C), pod-4 8-9 (D).
  EXPECT_TRUE(absl::StrContains(text, "NUMA node 0\n      0  # # A A B B C C\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "NUMA node 1\n      8  D D . . . . . .\n")) << text;
}

TEST(StatusText, LegendNamesOwners) {
  const std::string text = MapText(MakeTestSnapshot());
  EXPECT_TRUE(absl::StrContains(text, "  #  reserved CPU\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "  .  shared pool (2 containers)\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "  A  default/pod-0/app")) << text;
  EXPECT_TRUE(absl::StrContains(text, "CPUs 2-3  (pin conflict")) << text;
  EXPECT_TRUE(absl::StrContains(text, "  D  default/pod-4/app")) << text;
}

TEST(StatusText, ListsViolations) {
  const std::string text = MapText(MakeTestSnapshot());
  EXPECT_TRUE(absl::StrContains(text, "Recent violations (newest last, UTC):\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "outside    default/pod-0/app")) << text;
  EXPECT_TRUE(absl::StrContains(text, "intrusion  host task")) << text;
  EXPECT_TRUE(absl::StrContains(text, "kworker/3:1")) << text;
}

TEST(StatusText, NotReadyNamesMissing) {
  DaemonSnapshot snapshot = MakeTestSnapshot();
  snapshot.checkpoint_loaded = false;
  const std::string text = MapText(snapshot);
  EXPECT_TRUE(absl::StrContains(text, "not ready (checkpoint not loaded)")) << text;
}

TEST(StatusText, ManyOwnersUseTwoCharacterCells) {
  const std::string text =
      MapText(MakeTestSnapshot({.containers = 120, .cpus = 256, .numa_nodes = 2}));
  EXPECT_TRUE(absl::StrContains(text, "      0  ## ## AA AA AB AB")) << text;
  // Rows wrap every 32 CPUs with the first CPU of the line in front.
  EXPECT_TRUE(absl::StrContains(text, "\n     32 ")) << text;
}

TEST(StatusText, WrongDocumentIsError) {
  absl::StatusOr<std::string> text = StatusText(nlohmann::json{{"node", "x"}}, absl::Now());
  ASSERT_FALSE(text.ok());
  EXPECT_TRUE(absl::StrContains(text.status().message(), "unexpected /status document"))
      << text.status();
}

TEST(RunStatus, PrintsMapFromServer) {
  SnapshotBox box;
  box.Publish(std::make_shared<DaemonSnapshot>(MakeTestSnapshot()));
  auto server = MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
  ASSERT_TRUE(server.ok()) << server.status();
  std::ostringstream out, err;
  int code = RunStatus({"--address=127.0.0.1:" + std::to_string((*server)->port())}, out, err);
  EXPECT_EQ(code, 0) << err.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "NUMA node 1\n")) << out.str();
}

TEST(RunStatus, JsonOutputIsDocument) {
  SnapshotBox box;
  box.Publish(std::make_shared<DaemonSnapshot>(MakeTestSnapshot()));
  auto server = MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
  ASSERT_TRUE(server.ok()) << server.status();
  std::ostringstream out, err;
  int code = RunStatus(
      {"--address", "127.0.0.1:" + std::to_string((*server)->port()), "--output=json"}, out, err);
  EXPECT_EQ(code, 0) << err.str();
  nlohmann::json status = nlohmann::json::parse(out.str());
  EXPECT_EQ(status["node"], "worker-1");
}

TEST(RunStatus, UnreachableIsClearError) {
  int port;
  {
    // A port that was just bound and released, so nothing listens on it.
    SnapshotBox box;
    auto server = MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
    ASSERT_TRUE(server.ok());
    port = (*server)->port();
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);
  std::ostringstream out, err;
  EXPECT_EQ(RunStatus({"--address=" + address}, out, err), 1);
  EXPECT_EQ(err.str(), "numapinctl status: cannot reach numapind at " + address +
                           ": connection refused; is it running with --metrics-address?\n");
}

TEST(RunStatus, UnknownFlagIsUsageError) {
  std::ostringstream out, err;
  EXPECT_EQ(RunStatus({"--adress=x"}, out, err), 2);
  EXPECT_TRUE(absl::StrContains(err.str(), "unknown argument \"--adress=x\"")) << err.str();
  EXPECT_EQ(RunStatus({"--output=yaml"}, out, err), 2);
}

}  // namespace
}  // namespace numapin
