// TextfileWriter: writes the /metrics output to DIR/numapin.prom for node-exporter's textfile
// collector, for nodes where Prometheus scrapes node-exporter rather than numapind.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/snapshot.h"

namespace numapin {

class TextfileWriter {
 public:
  explicit TextfileWriter(std::string dir, absl::Duration min_interval = absl::Seconds(1));

  // Call after each publish and on the loop's periodic tick. Writes the snapshot unless the last
  // write was less than min_interval ago; a skipped snapshot is written by the next call after
  // the interval, so call on a timer too or the last change may wait for the next publish.
  // Returns whether it wrote, or the write's error.
  absl::StatusOr<bool> MaybeWrite(const DaemonSnapshot& snapshot, absl::Time now);

  // Renders and writes now: a temporary file in the same directory, then rename(2), so the
  // collector never reads a half-written file.
  absl::Status Write(const DaemonSnapshot& snapshot);

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
  absl::Duration min_interval_;
  absl::Time last_write_ = absl::InfinitePast();
};

}  // namespace numapin
