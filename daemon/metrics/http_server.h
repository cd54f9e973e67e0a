// MetricsServer: numapind's HTTP endpoint on --metrics-address. Serves /metrics (Prometheus text
// 0.0.4), /healthz (the event loop's heartbeat is fresh), /readyz (topology, checkpoint and first
// pod sync done) and /status (JSON of the snapshot). Handlers run on the server's own threads and
// read only the SnapshotBox, so a slow scraper never holds up the event loop.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/snapshot.h"

namespace httplib {
class Server;
}

namespace numapin {

struct MetricsServerOptions {
  // host:port, with an IPv6 host in brackets ("[::1]:9460"). Port 0 binds a free port; port()
  // then returns it.
  std::string address = "127.0.0.1:9460";
  // /healthz fails once the newer of the heartbeat and the snapshot's taken_unix_nanos is older
  // than this. The loop should set about 3x its readback interval plus 5 s.
  absl::Duration max_heartbeat_age = absl::Seconds(20);
};

// Splits "host:port" or "[v6]:port"; the port must be 0-65535.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(absl::string_view address);

struct ProbeResult {
  bool ok = false;
  std::string message;  // "ok", or what is missing or stale.
};

// /healthz: the loop's last sign of life (heartbeat or snapshot, whichever is newer) against now.
ProbeResult CheckHealth(const DaemonSnapshot& snapshot, int64_t heartbeat_unix_nanos,
                        absl::Time now, absl::Duration max_age);
// /readyz: topology_loaded && checkpoint_loaded && first_sync_done, naming those not yet done.
ProbeResult CheckReady(const DaemonSnapshot& snapshot);

class MetricsServer {
 public:
  // Binds the address and starts serving on a thread of its own. `box` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options,
                                                              const SnapshotBox* box);
  ~MetricsServer();  // Stops serving and joins the thread.

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  MetricsServer(const MetricsServerOptions& options, const SnapshotBox* box);
  void RegisterHandlers();
  // The /metrics body of the current snapshot, rendered at most once per published snapshot:
  // rendering a large node costs milliseconds, and several scrapers may ask for the same one.
  std::shared_ptr<const std::string> RenderCurrent();

  MetricsServerOptions options_;
  const SnapshotBox* box_;
  std::unique_ptr<httplib::Server> server_;
  std::string host_;
  int port_ = 0;
  std::atomic<bool> listener_done_{false};

  std::mutex render_mutex_;
  std::shared_ptr<const DaemonSnapshot> rendered_snapshot_;
  std::shared_ptr<const std::string> rendered_text_;
  std::thread thread_;
};

}  // namespace numapin
