// Tests of MetricsServer over loopback HTTP, and of its probes and address parsing.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "daemon/metrics/http_server.h"
#include "daemon/metrics/render.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/snapshot_fixture.h"

namespace numapin {
namespace {

class MetricsServerTest : public testing::Test {
 protected:
  void SetUp() override {
    DaemonSnapshot snapshot = MakeTestSnapshot();
    snapshot.taken_unix_nanos = absl::ToUnixNanos(absl::Now());
    box_.Publish(std::make_shared<DaemonSnapshot>(snapshot));

    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::Start({.address = "127.0.0.1:0"}, &box_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(5);
  }

  void PublishWith(void (*change)(DaemonSnapshot&)) {
    DaemonSnapshot snapshot = *box_.Get();
    change(snapshot);
    box_.Publish(std::make_shared<DaemonSnapshot>(snapshot));
  }

  SnapshotBox box_;
  std::unique_ptr<MetricsServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(MetricsServerTest, PortZeroBindsFreePort) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->host(), "127.0.0.1");
}

TEST_F(MetricsServerTest, MetricsServesRenderedSnapshot) {
  httplib::Result result = client_->Get("/metrics");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), kMetricsContentType);
  EXPECT_EQ(result->body, RenderMetrics(*box_.Get()));
}

TEST_F(MetricsServerTest, MetricsFollowsPublishedSnapshot) {
  // The first scrape fills the server's render cache; the next publish must replace it.
  httplib::Result before = client_->Get("/metrics");
  ASSERT_TRUE(before);
  EXPECT_TRUE(absl::StrContains(before->body, "node=\"worker-1\""));

  PublishWith([](DaemonSnapshot& s) { s.node_name = "worker-9"; });
  httplib::Result after = client_->Get("/metrics");
  ASSERT_TRUE(after);
  EXPECT_TRUE(absl::StrContains(after->body, "node=\"worker-9\""));
  EXPECT_FALSE(absl::StrContains(after->body, "node=\"worker-1\""));
}

TEST_F(MetricsServerTest, HealthzOkWhileFresh) {
  httplib::Result result = client_->Get("/healthz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "ok\n");
}

TEST_F(MetricsServerTest, HealthzFailsWhenStale) {
  PublishWith([](DaemonSnapshot& s) {
    s.taken_unix_nanos = absl::ToUnixNanos(absl::Now() - absl::Minutes(5));
  });
  httplib::Result result = client_->Get("/healthz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 503);
  EXPECT_TRUE(absl::StrContains(result->body, "heartbeat")) << result->body;
}

TEST_F(MetricsServerTest, HeartbeatKeepsHealthzOk) {
  PublishWith([](DaemonSnapshot& s) {
    s.taken_unix_nanos = absl::ToUnixNanos(absl::Now() - absl::Minutes(5));
  });
  box_.Heartbeat(absl::ToUnixNanos(absl::Now()));
  httplib::Result result = client_->Get("/healthz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST_F(MetricsServerTest, ReadyzOkWhenAllLoaded) {
  httplib::Result result = client_->Get("/readyz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST_F(MetricsServerTest, ReadyzNamesWhatIsMissing) {
  PublishWith([](DaemonSnapshot& s) {
    s.checkpoint_loaded = false;
    s.first_sync_done = false;
  });
  httplib::Result result = client_->Get("/readyz");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 503);
  EXPECT_TRUE(absl::StrContains(result->body, "checkpoint not loaded")) << result->body;
  EXPECT_TRUE(absl::StrContains(result->body, "first pod source sync not done")) << result->body;
  EXPECT_FALSE(absl::StrContains(result->body, "topology")) << result->body;
}

TEST_F(MetricsServerTest, StatusIsSnapshotJson) {
  httplib::Result result = client_->Get("/status");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  nlohmann::json status = nlohmann::json::parse(result->body);
  const DaemonSnapshot& snapshot = *box_.Get();
  EXPECT_EQ(status["node"], "worker-1");
  EXPECT_EQ(status["containers"].size(), snapshot.containers.size());
  EXPECT_EQ(status["cpus"].size(), snapshot.cpus.size());
  EXPECT_EQ(status["cpus"][2]["owner"], "exclusive");
  EXPECT_EQ(status["cpus"][2]["owner_container"], 0);
  EXPECT_EQ(status["cpus"][0]["owner"], "reserved");
  EXPECT_EQ(status["containers"][0]["cpus"], "2-3");
  EXPECT_EQ(status["recent_violations"].size(), snapshot.recent_violations.size());
  EXPECT_EQ(status["counters"]["repins"]["cpuset"], 3);
}

TEST_F(MetricsServerTest, BrotliIsNotOffered) {
  client_->set_decompress(false);
  httplib::Result result = client_->Get("/metrics", {{"Accept-Encoding", "br"}});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(result->has_header("Content-Encoding"))
      << result->get_header_value("Content-Encoding");
  EXPECT_EQ(result->body, RenderMetrics(*box_.Get()));
}

TEST_F(MetricsServerTest, GzipIsChosenOverBrotli) {
  client_->set_decompress(false);
  httplib::Result result = client_->Get("/metrics", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->get_header_value("Content-Encoding"), "gzip");
  EXPECT_LT(result->body.size(), RenderMetrics(*box_.Get()).size());
}

TEST_F(MetricsServerTest, UnknownPathIs404) {
  httplib::Result result = client_->Get("/nope");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
}

TEST(MetricsServer, BusyPortIsClearError) {
  SnapshotBox box;
  absl::StatusOr<std::unique_ptr<MetricsServer>> first =
      MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
  ASSERT_TRUE(first.ok());
  const std::string address = "127.0.0.1:" + std::to_string((*first)->port());
  absl::StatusOr<std::unique_ptr<MetricsServer>> second =
      MetricsServer::Start({.address = address}, &box);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(), address)) << second.status();
}

TEST(MetricsServer, StopsRightAfterStart) {
  SnapshotBox box;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server =
        MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
    ASSERT_TRUE(server.ok());
  }
}

TEST(ParseHostPort, AcceptsIpv4AndIpv6) {
  auto v4 = ParseHostPort("127.0.0.1:9460");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 9460);
  auto v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 0);
}

TEST(ParseHostPort, RejectsBadPort) {
  EXPECT_FALSE(ParseHostPort("127.0.0.1").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:http").ok());
  EXPECT_FALSE(ParseHostPort(":9460").ok());
}

TEST(CheckHealth, NeverPublishedFails) {
  ProbeResult result = CheckHealth(DaemonSnapshot{}, 0, absl::Now(), absl::Seconds(20));
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(absl::StrContains(result.message, "not published")) << result.message;
}

TEST(CheckHealth, AgeAtLimitPasses) {
  const absl::Time now = absl::FromUnixSeconds(2000);
  DaemonSnapshot snapshot;
  snapshot.taken_unix_nanos = absl::ToUnixNanos(now - absl::Seconds(20));
  EXPECT_TRUE(CheckHealth(snapshot, 0, now, absl::Seconds(20)).ok);
  EXPECT_FALSE(CheckHealth(snapshot, 0, now + absl::Seconds(1), absl::Seconds(20)).ok);
}

}  // namespace
}  // namespace numapin
