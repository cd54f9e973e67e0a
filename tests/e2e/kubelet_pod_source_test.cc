// Tests of the kubelet pod source against tests/fakes/fake_kubelet.py, a local HTTPS server with
// a self-signed certificate made by openssl for each run: authentication, CA verification,
// timeouts that never block Read(), bad responses, recovery and RequestRefresh.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/pod_source.h"

namespace numapin {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "fake-kubelet-token-7f3a";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);
}

// Runs a command through sh and returns whether it exited 0.
bool Run(const std::string& command) { return system((command + " >/dev/null 2>&1").c_str()) == 0; }

bool MakeCertificate(const std::string& dir, const std::string& name) {
  return Run(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1",
                          " -addext subjectAltName=IP:127.0.0.1 -keyout ", dir, "/", name,
                          ".key -out ", dir, "/", name, ".crt"));
}

class KubeletPodSourceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    char templ[] = "/tmp/numapin-fake-kubelet-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    ASSERT_TRUE(MakeCertificate(dir_, "server")) << "openssl req failed; is openssl installed?";
    ASSERT_TRUE(MakeCertificate(dir_, "other")) << "openssl req failed for the second CA";
    std::ofstream(dir_ + "/expected-token") << kToken << "\n";

    server_pid_ = fork();
    ASSERT_GE(server_pid_, 0);
    if (server_pid_ == 0) {
      const std::string script = std::string(NUMAPIN_SOURCE_DIR) + "/tests/fakes/fake_kubelet.py";
      execlp("python3", "python3", script.c_str(), "--cert", (dir_ + "/server.crt").c_str(),
             "--key", (dir_ + "/server.key").c_str(), "--token-file",
             (dir_ + "/expected-token").c_str(), "--control-file", (dir_ + "/control.json").c_str(),
             "--port-file", (dir_ + "/port").c_str(), "--requests-file",
             (dir_ + "/requests.log").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(dir_ + "/port"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(std::filesystem::exists(dir_ + "/port")) << "fake kubelet did not start";
    url_ = absl::StrCat("https://127.0.0.1:", ReadText(dir_ + "/port"), "/pods");
  }

  static void TearDownTestSuite() {
    if (server_pid_ > 0) {
      kill(server_pid_, SIGTERM);
      waitpid(server_pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    SetControl(R"({"mode": "ok"})");
    std::ofstream(dir_ + "/token") << kToken << "\n";
  }

  void SetControl(const std::string& json) { WriteAtomically(dir_ + "/control.json", json); }

  PodSourceOptions Options() const {
    PodSourceOptions options;
    options.spec = "kubelet";
    options.kubelet_url = url_;
    options.token_file = dir_ + "/token";
    options.ca_file = dir_ + "/server.crt";
    options.poll_interval = absl::Seconds(60);  // Tests fetch through the first read or refresh.
    options.request_timeout = absl::Seconds(5);
    options.connect_timeout = absl::Seconds(2);
    return options;
  }

  std::unique_ptr<PodSource> Make(const PodSourceOptions& options) {
    absl::StatusOr<std::unique_ptr<PodSource>> source = MakePodSource(options);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? std::move(*source) : nullptr;
  }

  // Waits for fd() to become readable, then reads; the result of the first completed fetch.
  absl::StatusOr<std::optional<std::vector<Pod>>> WaitAndRead(PodSource& source,
                                                              absl::Duration timeout) {
    pollfd fd{source.fd(), POLLIN, 0};
    auto deadline = Clock::now() + absl::ToChronoMilliseconds(timeout);
    while (Clock::now() < deadline) {
      if (poll(&fd, 1, 50) == 1) {
        auto result = source.Read(&pod_errors_);
        if (!result.ok() || result->has_value()) return result;
      }
    }
    return absl::DeadlineExceededError("test: no result from the pod source in time");
  }

  static std::string dir_;
  static std::string url_;
  static pid_t server_pid_;
  std::vector<absl::Status> pod_errors_;
};

std::string KubeletPodSourceTest::dir_;
std::string KubeletPodSourceTest::url_;
pid_t KubeletPodSourceTest::server_pid_ = -1;

TEST_F(KubeletPodSourceTest, GoodListParses) {
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->name(), "kubelet");
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_value());
  const std::vector<Pod>& pods = **result;
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[0].Key(), "default/latency-critical");
  EXPECT_EQ(pods[1].Key(), "kube-system/log-shipper");
  ASSERT_EQ(pods[0].containers.size(), 1u);
  EXPECT_EQ(pods[0].containers[0].resources.cpu_limit_millis, 2000);
  EXPECT_TRUE(pod_errors_.empty());
}

TEST_F(KubeletPodSourceTest, WrongTokenIsClearError) {
  std::ofstream(dir_ + "/token") << "not-the-token\n";
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  const std::string message(result.status().message());
  EXPECT_TRUE(absl::StrContains(message, "401 Unauthorized from " + url_)) << message;
  EXPECT_TRUE(absl::StrContains(message, "--kubelet-token-file")) << message;
  EXPECT_FALSE(absl::StrContains(message, "not-the-token")) << "token leaked: " << message;
}

TEST_F(KubeletPodSourceTest, MissingTokenFileIsClearError) {
  PodSourceOptions options = Options();
  options.token_file = dir_ + "/absent-token";
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), options.token_file)) << result.status();
}

TEST_F(KubeletPodSourceTest, TokenIsRereadEachRequest) {
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitAndRead(*source, absl::Seconds(10)).ok());

  std::ofstream(dir_ + "/token") << "rotated-away\n";
  source->RequestRefresh();
  auto rejected = WaitAndRead(*source, absl::Seconds(10));
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kUnauthenticated) << rejected.status();

  std::ofstream(dir_ + "/token") << kToken << "\n";
  source->RequestRefresh();
  auto accepted = WaitAndRead(*source, absl::Seconds(10));
  EXPECT_TRUE(accepted.ok()) << accepted.status();
}

TEST_F(KubeletPodSourceTest, WrongCaFailsVerification) {
  PodSourceOptions options = Options();
  options.ca_file = dir_ + "/other.crt";
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_TRUE(absl::StrContains(message, "TLS verification of " + url_)) << message;
  EXPECT_TRUE(absl::StrContains(message, "--kubelet-ca-file")) << message;
}

TEST_F(KubeletPodSourceTest, InsecureSkipAcceptsUnknownCa) {
  PodSourceOptions options = Options();
  options.ca_file = dir_ + "/other.crt";
  options.insecure_skip_tls_verify = true;
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ((*result)->size(), 2u);
}

TEST_F(KubeletPodSourceTest, StallTimesOutWithoutBlockingRead) {
  SetControl(R"({"mode": "stall", "stall_seconds": 4})");
  PodSourceOptions options = Options();
  options.request_timeout = absl::Seconds(1);
  auto source = Make(options);
  ASSERT_NE(source, nullptr);

  // While the server stalls, every loop-side Read() returns at once with nothing new.
  auto slowest = Clock::duration::zero();
  for (int i = 0; i < 10; ++i) {
    auto start = Clock::now();
    auto result = source->Read(&pod_errors_);
    slowest = std::max(slowest, Clock::now() - start);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(slowest, std::chrono::milliseconds(50));

  auto result = WaitAndRead(*source, absl::Seconds(5));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "timed out")) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), url_)) << result.status();
}

TEST_F(KubeletPodSourceTest, DestroyDuringStallIsPrompt) {
  SetControl(R"({"mode": "stall", "stall_seconds": 4})");
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // The GET is under way.
  auto start = Clock::now();
  source.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000));
}

TEST_F(KubeletPodSourceTest, GarbageIsError) {
  SetControl(R"({"mode": "garbage"})");
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), "invalid PodList from " + url_))
      << result.status();
}

TEST_F(KubeletPodSourceTest, ForbiddenNamesRbac) {
  SetControl(R"({"mode": "forbidden"})");
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "403 Forbidden from " + url_))
      << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "nodes/proxy")) << result.status();
}

TEST_F(KubeletPodSourceTest, RecoversAfterServerError) {
  SetControl(R"({"mode": "fail"})");
  auto source = Make(Options());
  ASSERT_NE(source, nullptr);
  auto failed = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(absl::StrContains(failed.status().message(), "HTTP 500 from " + url_))
      << failed.status();

  SetControl(R"({"mode": "ok"})");
  source->RequestRefresh();
  auto recovered = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ((*recovered)->size(), 2u);
}

TEST_F(KubeletPodSourceTest, RequestRefreshFetchesAtOnce) {
  auto source = Make(Options());  // Polls every 60 s, so only a refresh fetches again soon.
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitAndRead(*source, absl::Seconds(10)).ok());

  SetControl(R"({"mode": "ok", "pods": [{"namespace": "default", "name": "new-pod",
                  "cpu": "4", "memory": "2Gi"}]})");
  auto start = Clock::now();
  source->RequestRefresh();
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ((*result)->size(), 1u);
  EXPECT_EQ((**result)[0].Key(), "default/new-pod");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(KubeletPodSourceTest, RefreshDuringFetchFetchesAgain) {
  // The pod a refresh asks about may be created after an in-flight GET read its list, so a
  // refresh that arrives mid-GET must lead to another GET once that one ends.
  SetControl(R"({"mode": "stall", "stall_seconds": 1})");
  auto source = Make(Options());  // Polls every 60 s.
  ASSERT_NE(source, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  source->RequestRefresh();

  auto first = WaitAndRead(*source, absl::Seconds(5));
  ASSERT_TRUE(first.ok()) << first.status();
  // Well before the next poll: only the refresh can have caused this GET.
  auto second = WaitAndRead(*source, absl::Seconds(5));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->has_value());
}

TEST_F(KubeletPodSourceTest, PollsOnInterval) {
  PodSourceOptions options = Options();
  options.poll_interval = absl::Milliseconds(200);
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WaitAndRead(*source, absl::Seconds(10)).ok());
  auto second = WaitAndRead(*source, absl::Seconds(5));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->has_value());
}

TEST_F(KubeletPodSourceTest, ConnectionRefusedIsClearError) {
  // Nothing listens on port 1 of the loopback address.
  PodSourceOptions options = Options();
  options.kubelet_url = "https://127.0.0.1:1/pods";
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  auto result = WaitAndRead(*source, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "cannot connect to " + options.kubelet_url))
      << result.status();
}

TEST_F(KubeletPodSourceTest, ConnectTimeoutIsClearError) {
  // A loopback listener whose accept queue is full: Linux drops further SYNs, so a connect hangs
  // until the client gives up, as it would against a firewalled kubelet port.
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    fillers.push_back(filler);
  }

  PodSourceOptions options = Options();
  options.kubelet_url = absl::StrCat("https://127.0.0.1:", ntohs(address.sin_port), "/pods");
  options.connect_timeout = absl::Milliseconds(500);
  auto source = Make(options);
  ASSERT_NE(source, nullptr);
  auto start = Clock::now();
  auto result = WaitAndRead(*source, absl::Seconds(10));
  auto elapsed = Clock::now() - start;
  for (int fd : fillers) close(fd);
  close(listener);

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "timed out")) << result.status();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(MakePodSource, RejectsUnknownSpec) {
  PodSourceOptions options;
  options.spec = "apiserver";
  auto source = MakePodSource(options);
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::StrContains(source.status().message(), "'apiserver'")) << source.status();
}

}  // namespace
}  // namespace numapin
