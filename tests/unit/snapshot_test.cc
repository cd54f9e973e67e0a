// Tests of HistogramState::Observe and the SnapshotBox heartbeat.
#include "daemon/snapshot.h"

#include <gtest/gtest.h>

namespace numapin {
namespace {

TEST(HistogramState, SampleOnBoundCountsInThatBucket) {
  HistogramState h;
  h.upper_bounds = {0.1, 1};
  h.Observe(0.1);
  ASSERT_EQ(h.counts.size(), 2u);
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.counts[1], 0u);
}

TEST(HistogramState, SampleBetweenBoundsCountsInUpperBucket) {
  HistogramState h;
  h.upper_bounds = {0.1, 1};
  h.Observe(0.5);
  EXPECT_EQ(h.counts[0], 0u);
  EXPECT_EQ(h.counts[1], 1u);
}

TEST(HistogramState, SampleAboveAllBoundsOnlyCounts) {
  HistogramState h;
  h.upper_bounds = {0.1, 1};
  h.Observe(3);
  EXPECT_EQ(h.counts[0], 0u);
  EXPECT_EQ(h.counts[1], 0u);
  EXPECT_EQ(h.count, 1u);
  EXPECT_DOUBLE_EQ(h.sum, 3);
}

TEST(HistogramState, SumAndCountAccumulate) {
  HistogramState h = HistogramState::WithLatencyBuckets();
  h.Observe(0.002);
  h.Observe(0.003);
  EXPECT_EQ(h.count, 2u);
  EXPECT_DOUBLE_EQ(h.sum, 0.005);
}

TEST(HistogramState, LatencyBucketsAreSortedAndSized) {
  HistogramState h = HistogramState::WithLatencyBuckets();
  EXPECT_EQ(h.counts.size(), h.upper_bounds.size());
  EXPECT_TRUE(std::is_sorted(h.upper_bounds.begin(), h.upper_bounds.end()));
  EXPECT_DOUBLE_EQ(h.upper_bounds.front(), 0.001);
  EXPECT_DOUBLE_EQ(h.upper_bounds.back(), 10);
}

TEST(SnapshotBox, HeartbeatIsStored) {
  SnapshotBox box;
  EXPECT_EQ(box.heartbeat_unix_nanos(), 0);
  box.Heartbeat(42);
  EXPECT_EQ(box.heartbeat_unix_nanos(), 42);
}

}  // namespace
}  // namespace numapin
