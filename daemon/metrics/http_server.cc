// MetricsServer on cpp-httplib: routes, probes and the server thread.
#include "daemon/metrics/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/metrics/render.h"
#include "daemon/metrics/status_json.h"
#include "httplib.h"

namespace numapin {
namespace {

// httplib keeps a thread busy for each open keep-alive connection until it idles out, so the
// pool leaves room for two Prometheus replicas and numapinctl next to the kubelet's probes.
constexpr size_t kServerThreads = 4;
constexpr time_t kKeepAliveSeconds = 2;
constexpr time_t kSocketTimeoutSeconds = 5;

// httplib 0.11 compresses every text response itself, with brotli whenever the client lists
// "br". At its default quality that took 0.9-4 s of CPU for the 626 KB /metrics of a
// 500-container node, against about 5 ms for gzip (curl on a 2-vCPU VM). numapind runs on the
// node's reserved CPUs, so requests are rewritten to offer gzip at most.
httplib::Server::HandlerResponse LimitToGzip(const httplib::Request& request, httplib::Response&) {
  // httplib passes a const reference to a request object that it owns and that is not itself
  // const, so the cast is defined. No other thread sees the request.
  auto& headers = const_cast<httplib::Request&>(request).headers;
  auto [first, last] = headers.equal_range("Accept-Encoding");
  for (auto it = first; it != last; ++it) {
    it->second = absl::StrContains(it->second, "gzip") ? "gzip" : "identity";
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

void Reply(httplib::Response& response, const ProbeResult& result) {
  response.status = result.ok ? 200 : 503;
  response.set_content(result.message + "\n", "text/plain; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(absl::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid address '", address, "': expected host:port, e.g. 127.0.0.1:9460 or [::1]:9460"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  int port = 0;
  absl::string_view port_text = address.substr(colon + 1);
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port '", port_text, "' in address '",
                                                   address, "': expected 0-65535"));
  }
  return std::make_pair(host, port);
}

ProbeResult CheckHealth(const DaemonSnapshot& snapshot, int64_t heartbeat_unix_nanos,
                        absl::Time now, absl::Duration max_age) {
  int64_t last = std::max(snapshot.taken_unix_nanos, heartbeat_unix_nanos);
  if (last == 0) {
    return {false, "event loop has not published a snapshot or heartbeat yet"};
  }
  absl::Duration age = absl::Trunc(now - absl::FromUnixNanos(last), absl::Milliseconds(1));
  if (age > max_age) {
    return {false,
            absl::StrCat("event loop heartbeat is ", absl::FormatDuration(age), " old (limit ",
                         absl::FormatDuration(max_age), "): the loop is stuck or too slow")};
  }
  return {true, "ok"};
}

ProbeResult CheckReady(const DaemonSnapshot& snapshot) {
  std::vector<std::string> missing;
  if (!snapshot.topology_loaded) missing.push_back("topology not loaded");
  if (!snapshot.checkpoint_loaded) missing.push_back("checkpoint not loaded");
  if (!snapshot.first_sync_done) missing.push_back("first pod source sync not done");
  if (missing.empty()) return {true, "ok"};
  return {false, absl::StrCat("not ready: ", absl::StrJoin(missing, ", "))};
}

MetricsServer::MetricsServer(const MetricsServerOptions& options, const SnapshotBox* box)
    : options_(options), box_(box), server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsServerOptions& options, const SnapshotBox* box) {
  absl::StatusOr<std::pair<std::string, int>> host_port = ParseHostPort(options.address);
  if (!host_port.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-address: ", host_port.status().message()));
  }

  std::unique_ptr<MetricsServer> server(new MetricsServer(options, box));
  httplib::Server& http = *server->server_;
  http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  // httplib's default also sets SO_REUSEPORT, which would let a second numapind share the port
  // and split the scrapes; SO_REUSEADDR alone still allows a quick restart.
  http.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_pre_routing_handler(LimitToGzip);
  http.set_keep_alive_timeout(kKeepAliveSeconds);
  http.set_read_timeout(kSocketTimeoutSeconds);
  http.set_write_timeout(kSocketTimeoutSeconds);
  server->RegisterHandlers();

  auto [host, port] = *host_port;
  errno = 0;
  int bound = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    int bind_errno = errno;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --metrics-address=", options.address, ": ",
                     bind_errno != 0 ? std::strerror(bind_errno) : "bind failed",
                     "; is another process using the port, or is the host not a local address?"));
  }
  server->host_ = host;
  server->port_ = bound;
  server->thread_ = std::thread([&http, done = &server->listener_done_] {
    http.listen_after_bind();
    done->store(true);
  });
  return server;
}

MetricsServer::~MetricsServer() {
  if (!thread_.joinable()) return;

  // httplib's stop() does nothing until listen_after_bind() has marked the server running, which
  // the new thread may not have done yet; repeat until the listener returns.
  while (!listener_done_.load()) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

std::shared_ptr<const std::string> MetricsServer::RenderCurrent() {
  std::shared_ptr<const DaemonSnapshot> snapshot = box_->Get();
  std::lock_guard<std::mutex> lock(render_mutex_);
  if (snapshot != rendered_snapshot_) {
    rendered_text_ = std::make_shared<const std::string>(RenderMetrics(*snapshot));
    rendered_snapshot_ = std::move(snapshot);
  }
  return rendered_text_;
}

void MetricsServer::RegisterHandlers() {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(*RenderCurrent(), kMetricsContentType);
  });
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
    Reply(response, CheckHealth(*box_->Get(), box_->heartbeat_unix_nanos(), absl::Now(),
                                options_.max_heartbeat_age));
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    Reply(response, CheckReady(*box_->Get()));
  });
  server_->Get("/status", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(StatusJson(*box_->Get()).dump(2) + "\n", "application/json");
  });
}

}  // namespace numapin
