// HistogramState::Observe: the one piece of logic of the snapshot types.
#include "daemon/snapshot.h"

namespace numapin {

void HistogramState::Observe(double seconds) {
  if (counts.size() != upper_bounds.size()) counts.assign(upper_bounds.size(), 0);
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (seconds <= upper_bounds[i]) {
      ++counts[i];
      break;
    }
  }
  sum += seconds;
  ++count;
}

}  // namespace numapin
