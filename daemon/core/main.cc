// numapind: flags, logging, and the event loop.
#include <cstdio>

#include "daemon/core/daemon.h"
#include "daemon/core/log.h"
#include "daemon/core/options.h"
#include "daemon/pod_source.h"
#include "daemon/snapshot.h"

int main(int argc, char** argv) {
  absl::StatusOr<numapin::DaemonOptions> options = numapin::ParseFlags(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "numapind: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  numapin::log::Init(options->log_format);
  // Blocked before any thread starts, so that only the loop's signalfd receives them.
  numapin::BlockDaemonSignals();

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
  // TODO: start the metrics HTTP server (/metrics, /healthz, /readyz, /status) and the textfile
  // writer on `box` once numapin_metrics exists; until then --dump-state-file shows the state.
  absl::Status status = (*daemon)->Run();
  if (!status.ok()) {
    numapin::log::Error("numapind stopped on an error", {{"error", status}});
    return 1;
  }
  return 0;
}
