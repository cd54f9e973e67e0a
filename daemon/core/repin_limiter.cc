// Sliding-window re-pin counting with doubling back-off.
#include "daemon/core/repin_limiter.h"

#include <algorithm>

namespace numapin {

RepinLimiter::Verdict RepinLimiter::OnDrift(absl::Time now) {
  if (now < backoff_until_) return Verdict::kBackedOff;
  while (!recent_.empty() && now - recent_.front() >= limits_.window) recent_.pop_front();
  if (static_cast<int>(recent_.size()) >= limits_.max_repins) {
    backoff_ = conflict_ ? std::min(backoff_ * 2, limits_.max_backoff) : limits_.initial_backoff;
    conflict_ = true;
    backoff_until_ = now + backoff_;
    recent_.clear();
    return Verdict::kConflictStarted;
  }
  recent_.push_back(now);
  last_repin_ = now;
  return Verdict::kAllowed;
}

bool RepinLimiter::OnStable(absl::Time now) {
  if (!conflict_ || now < backoff_until_ || now - last_repin_ < limits_.settle) return false;
  conflict_ = false;
  backoff_ = absl::ZeroDuration();
  return true;
}

}  // namespace numapin
