// RepinLimiter: conflict after too many re-pins, doubling back-off, and clearing once stable.
#include "daemon/core/repin_limiter.h"

#include <gtest/gtest.h>

namespace numapin {
namespace {

using Verdict = RepinLimiter::Verdict;

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(RepinLimiter, AllowsUpToMaxRepinsInWindow) {
  RepinLimiter limiter;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.OnDrift(kStart + absl::Seconds(i)), Verdict::kAllowed) << "re-pin " << i;
  }
  EXPECT_FALSE(limiter.conflict());
}

TEST(RepinLimiter, SixthRepinInWindowStartsConflict) {
  RepinLimiter limiter;
  for (int i = 0; i < 5; ++i) limiter.OnDrift(kStart + absl::Milliseconds(100 * i));
  EXPECT_EQ(limiter.OnDrift(kStart + absl::Seconds(1)), Verdict::kConflictStarted);
  EXPECT_TRUE(limiter.conflict());
  EXPECT_EQ(limiter.backoff(), absl::Seconds(5));
  EXPECT_EQ(limiter.OnDrift(kStart + absl::Seconds(2)), Verdict::kBackedOff);
}

TEST(RepinLimiter, RepinsSpreadOverWindowNeverConflict) {
  RepinLimiter limiter;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(limiter.OnDrift(kStart + absl::Seconds(3 * i)), Verdict::kAllowed) << i;
  }
}

TEST(RepinLimiter, BackoffDoublesUpToMaximum) {
  RepinLimiter limiter;
  absl::Time now = kStart;
  absl::Duration expected[] = {absl::Seconds(5), absl::Seconds(10), absl::Seconds(20),
                               absl::Seconds(40), absl::Seconds(60), absl::Seconds(60)};
  for (absl::Duration backoff : expected) {
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(limiter.OnDrift(now), Verdict::kAllowed);
      now += absl::Milliseconds(10);
    }
    ASSERT_EQ(limiter.OnDrift(now), Verdict::kConflictStarted);
    EXPECT_EQ(limiter.backoff(), backoff);
    now = limiter.backoff_until();
  }
}

TEST(RepinLimiter, ConflictClearsWhenCgroupStaysPut) {
  RepinLimiter limiter;
  for (int i = 0; i < 6; ++i) limiter.OnDrift(kStart);
  ASSERT_TRUE(limiter.conflict());
  absl::Time after = limiter.backoff_until();
  EXPECT_FALSE(limiter.OnStable(after - absl::Seconds(1))) << "still backed off";
  EXPECT_EQ(limiter.OnDrift(after), Verdict::kAllowed);
  EXPECT_FALSE(limiter.OnStable(after + absl::Seconds(1))) << "re-pinned too recently";
  EXPECT_TRUE(limiter.OnStable(after + absl::Seconds(10)));
  EXPECT_FALSE(limiter.conflict());
}

}  // namespace
}  // namespace numapin
