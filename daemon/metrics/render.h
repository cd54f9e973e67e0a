// Prometheus rendering of a DaemonSnapshot: the metric families listed in docs/metrics.md, with
// the `node` label on every series, in text exposition format 0.0.4. /metrics and the textfile
// writer both call RenderMetrics, so their output is the same byte for byte.
#pragma once

#include <string>
#include <vector>

#include "daemon/snapshot.h"
#include "prometheus/metric_family.h"

namespace numapin {

// Builds every family from the snapshot. Counters that the snapshot keeps in nanoseconds are
// exposed in seconds. No sample carries a timestamp.
std::vector<prometheus::MetricFamily> BuildMetricFamilies(const DaemonSnapshot& snapshot);

// Serializes BuildMetricFamilies with prometheus-cpp's TextSerializer.
std::string RenderMetrics(const DaemonSnapshot& snapshot);

// The Content-Type of RenderMetrics' output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// numapin's version (the CMake project version) and the git revision it was configured from
// ("unknown" outside a git checkout), as numapin_build_info reports them.
const char* BuildVersion();
const char* BuildRevision();

}  // namespace numapin
