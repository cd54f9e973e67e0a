// RepinLimiter: per-container limit on re-pins. When another writer (such as the kubelet's CPU
// manager) keeps rewriting a cgroup, re-pinning at once in a loop would only fight it, so after
// too many re-pins in a window the container is marked in conflict and left alone for a back-off
// that doubles on each new conflict, up to a maximum.
#pragma once

#include <deque>

#include "absl/time/time.h"

namespace numapin {

struct RepinLimits {
  int max_repins = 5;                       // Re-pins allowed within `window`...
  absl::Duration window = absl::Seconds(10);  // ...before a conflict starts.
  absl::Duration initial_backoff = absl::Seconds(5);
  absl::Duration max_backoff = absl::Seconds(60);
  // A conflict clears when the cgroup held its value this long after the last re-pin.
  absl::Duration settle = absl::Seconds(10);
};

class RepinLimiter {
 public:
  enum class Verdict {
    kAllowed,          // Re-pin now; the re-pin is recorded.
    kConflictStarted,  // Too many re-pins: the back-off starts now; do not re-pin.
    kBackedOff,        // In back-off: do not re-pin.
  };

  explicit RepinLimiter(RepinLimits limits = {}) : limits_(limits) {}

  Verdict OnDrift(absl::Time now);

  // Reports a read-back that matched. Returns true when this clears a conflict.
  bool OnStable(absl::Time now);

  bool conflict() const { return conflict_; }
  absl::Time backoff_until() const { return backoff_until_; }
  absl::Duration backoff() const { return backoff_; }

 private:
  RepinLimits limits_;
  std::deque<absl::Time> recent_;
  bool conflict_ = false;
  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time backoff_until_ = absl::InfinitePast();
  absl::Time last_repin_ = absl::InfinitePast();
};

}  // namespace numapin
