// HistogramState: bucket counting for the latency histograms the loop keeps in its snapshot.
#include "daemon/snapshot.h"

#include <algorithm>

namespace numapin {

void HistogramState::Observe(double seconds) {
  counts.resize(upper_bounds.size(), 0);

  auto bound = std::lower_bound(upper_bounds.begin(), upper_bounds.end(), seconds);
  if (bound != upper_bounds.end()) {
    ++counts[bound - upper_bounds.begin()];
  }
  sum += seconds;
  ++count;
}

HistogramState HistogramState::WithLatencyBuckets() {
  HistogramState histogram;
  histogram.upper_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  histogram.counts.assign(histogram.upper_bounds.size(), 0);
  return histogram;
}

}  // namespace numapin
