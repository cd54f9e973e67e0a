// numapind: flags, logging, and the event loop.
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon/core/daemon.h"
#include "daemon/core/log.h"
#include "daemon/core/options.h"
#include "daemon/pod_source.h"
#include "daemon/snapshot.h"

// The metrics library is built in a tree of its own; numapind serves metrics when it is present.
#if __has_include("daemon/metrics/http_server.h")
#include "daemon/metrics/http_server.h"
#include "daemon/metrics/textfile.h"
#define NUMAPIN_HAVE_METRICS 1
#endif

namespace {

// Raises the soft open-file limit to the hard one. The read-back keeps two files open per
// container, up to half the soft limit. The soft limit is often 1024 while the hard one is far
// higher, and every cgroup past the budget is opened again on each read-back.
void RaiseOpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    numapin::log::Warning("Raising the open file limit failed; the read-back reopens more files",
                          {{"soft", static_cast<uint64_t>(before)},
                           {"hard", static_cast<uint64_t>(limit.rlim_max)},
                           {"error", std::strerror(errno)}});
    return;
  }
  numapin::log::Info("Raised the open file limit", {{"from", static_cast<uint64_t>(before)},
                                                    {"to", static_cast<uint64_t>(limit.rlim_max)}});
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<numapin::DaemonOptions> options = numapin::ParseFlags(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "numapind: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  numapin::log::Init(options->log_format);
  // Blocked before any thread starts, so that only the loop's signalfd receives them.
  numapin::BlockDaemonSignals();
  RaiseOpenFileLimit();

  absl::StatusOr<std::unique_ptr<numapin::PodSource>> source =
      numapin::MakePodSource(options->pod_source);
  if (!source.ok()) {
    numapin::log::Error("Starting the pod source failed", {{"error", source.status()}});
    return 1;
  }
  numapin::SnapshotBox box;
  absl::StatusOr<std::unique_ptr<numapin::Daemon>> daemon =
      numapin::Daemon::Create(*options, *std::move(source), &box);
  if (!daemon.ok()) {
    numapin::log::Error("Starting numapind failed", {{"error", daemon.status()}});
    return 1;
  }
#ifdef NUMAPIN_HAVE_METRICS
  numapin::MetricsServerOptions server_options;
  server_options.address = options->metrics_address;
  server_options.max_heartbeat_age = 3 * options->readback_interval + absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<numapin::MetricsServer>> server =
      numapin::MetricsServer::Start(server_options, &box);
  if (!server.ok()) {
    numapin::log::Error("Starting the metrics server failed", {{"error", server.status()}});
    return 1;
  }
  numapin::log::Info("Serving metrics",
                     {{"address", (*server)->host()}, {"port", (*server)->port()}});
  std::unique_ptr<numapin::TextfileWriter> textfile;
  if (!options->textfile_dir.empty()) {
    textfile = std::make_unique<numapin::TextfileWriter>(options->textfile_dir);
    (*daemon)->SetPublishHook([&textfile](const numapin::DaemonSnapshot& snapshot) {
      absl::StatusOr<bool> written = textfile->MaybeWrite(snapshot, absl::Now());
      if (!written.ok()) {
        numapin::log::Error("Writing the metrics textfile failed", {{"error", written.status()}});
      }
    });
  }
#else
  numapin::log::Warning("Built without the metrics library; --metrics-address is not served",
                        {{"address", options->metrics_address}});
#endif
  absl::Status status = (*daemon)->Run();
  if (!status.ok()) {
    numapin::log::Error("numapind stopped on an error", {{"error", status}});
    return 1;
  }
  return 0;
}
