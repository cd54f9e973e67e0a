// Structured log line bodies and the repeat limiter.
#include "daemon/core/log.h"

#include <gtest/gtest.h>

namespace numapin::log {
namespace {

TEST(LogFormat, TextQuotesOnlyWhereNeeded) {
  EXPECT_EQ(FormatText("Assigned exclusive CPUs",
                       {{"pod", "ns/web"}, {"cpus", "2-3"}, {"error", "bad value"}, {"n", 4}}),
            R"("Assigned exclusive CPUs" pod=ns/web cpus=2-3 error="bad value" n=4)");
  EXPECT_EQ(FormatText("x", {{"empty", ""}}), R"("x" empty="")");
}

TEST(LogFormat, JsonEscapesValues) {
  EXPECT_EQ(FormatJson("Drift", {{"found", "a\"b"}}), R"("msg":"Drift","found":"a\"b")");
}

TEST(LogRateLimiter, HoldsBackRepeatsAndCountsThem) {
  RateLimiter limiter(absl::Seconds(30));
  absl::Time start = absl::FromUnixSeconds(100);
  uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow("drift/web", start, &suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(limiter.Allow("drift/web", start + absl::Seconds(1), &suppressed));
  EXPECT_FALSE(limiter.Allow("drift/web", start + absl::Seconds(2), &suppressed));
  EXPECT_TRUE(limiter.Allow("drift/db", start + absl::Seconds(2), &suppressed)) << "other key";
  EXPECT_TRUE(limiter.Allow("drift/web", start + absl::Seconds(31), &suppressed));
  EXPECT_EQ(suppressed, 2u);
}

}  // namespace
}  // namespace numapin::log
