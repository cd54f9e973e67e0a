// Checks numapind's /metrics output with Prometheus' own linter (`promtool check metrics`), and
// that the textfile collector file is the same text with no timestamps.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "daemon/metrics/http_server.h"
#include "daemon/metrics/textfile.h"
#include "httplib.h"
#include "tests/fakes/snapshot_fixture.h"

namespace numapin {
namespace {

std::string FindPromtool() {
  for (const char* path : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs `command` with `input` on its standard input; captures stdout and stderr together.
CommandResult RunWithInput(const std::string& command, const std::string& input,
                           const std::string& scratch_dir) {
  const std::string input_path = scratch_dir + "/input.prom";
  std::ofstream(input_path) << input;
  CommandResult result;
  FILE* pipe = popen((command + " < " + input_path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class PromtoolMetricsTest : public testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/numapin-promtool-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;

    // Several containers on several NUMA nodes, exclusive and shared, with violations.
    DaemonSnapshot snapshot = MakeTestSnapshot(
        {.containers = 24, .cpus = 64, .numa_nodes = 4, .reserved_cpus = 4, .violations = 10});
    snapshot.mode = "observe";
    snapshot.cpu_manager_state_valid = true;
    snapshot.containers[5].container = "name with \"quotes\" and \\ backslash";
    box_.Publish(std::make_shared<DaemonSnapshot>(snapshot));

    auto server = MetricsServer::Start({.address = "127.0.0.1:0"}, &box_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Scrape() {
    httplib::Client client("127.0.0.1", server_->port());
    httplib::Result result = client.Get("/metrics");
    EXPECT_TRUE(result) << httplib::to_string(result.error());
    if (!result) return "";
    EXPECT_EQ(result->status, 200);
    return result->body;
  }

  std::string dir_;
  SnapshotBox box_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(PromtoolMetricsTest, PromtoolFindsNothing) {
  const std::string promtool = FindPromtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not installed (Debian package 'prometheus'); tools/setup.sh "
                    "installs it";
  }
  const std::string body = Scrape();
  ASSERT_FALSE(body.empty());
  CommandResult result = RunWithInput(promtool + " check metrics", body, dir_);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "") << result.output;
}

TEST_F(PromtoolMetricsTest, PromtoolCatchesBrokenInput) {
  // Guards the check above: promtool must reject what it should, or "finds nothing" means little.
  const std::string promtool = FindPromtool();
  if (promtool.empty()) GTEST_SKIP() << "promtool not installed (Debian package 'prometheus')";
  CommandResult result = RunWithInput(promtool + " check metrics",
                                      "# TYPE x_total counter\nx_total{a=\"1\" 1\n", dir_);
  EXPECT_NE(result.exit_code, 0) << result.output;
}

TEST_F(PromtoolMetricsTest, TextfileMatchesHttp) {
  TextfileWriter writer(dir_);
  ASSERT_TRUE(writer.Write(*box_.Get()).ok());
  std::ifstream in(writer.path());
  std::stringstream textfile;
  textfile << in.rdbuf();
  EXPECT_EQ(textfile.str(), Scrape());
}

TEST_F(PromtoolMetricsTest, TextfileHasNoTimestamps) {
  TextfileWriter writer(dir_);
  ASSERT_TRUE(writer.Write(*box_.Get()).ok());
  std::ifstream in(writer.path());
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    std::vector<std::string> fields =
        absl::StrSplit(line.substr(line.rfind('}') + 1), ' ', absl::SkipEmpty());
    EXPECT_EQ(fields.size(), 1u) << "sample with a timestamp: " << line;
  }
  EXPECT_GT(samples, 100);
}

}  // namespace
}  // namespace numapin
