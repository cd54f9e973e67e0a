// bench-metrics-render: times RenderMetrics (the /metrics body) on a large node, 500 tracked
// containers on 384 CPUs over 4 NUMA nodes, and reports p50/p99 render time against the 5 ms
// p99 target. Reports wall-clock time and the rendering thread's CPU time: on a busy machine the
// wall time includes waiting for a CPU, which the CPU time leaves out. The last output line is
// one JSON object for scripts.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "daemon/metrics/render.h"
#include "tests/fakes/snapshot_fixture.h"

namespace {

constexpr double kTargetP99Ms = 5.0;

double Percentile(std::vector<double> sorted_ms, double fraction) {
  size_t index = static_cast<size_t>(fraction * (sorted_ms.size() - 1) + 0.5);
  return sorted_ms[std::min(index, sorted_ms.size() - 1)];
}

double ThreadCpuMs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

size_t CountSamples(const std::string& text) {
  size_t samples = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start && text[start] != '#') ++samples;
    start = end + 1;
  }
  return samples;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 1000;
  if (argc > 1 && (!absl::SimpleAtoi(argv[1], &iterations) || iterations <= 0)) {
    std::fprintf(stderr, "usage: bench-metrics-render [ITERATIONS]  (default 1000, positive)\n");
    return 2;
  }
  const numapin::DaemonSnapshot snapshot = numapin::MakeTestSnapshot(
      {.containers = 500, .cpus = 384, .numa_nodes = 4, .reserved_cpus = 4, .violations = 64});

  // One untimed render warms the allocator and gives the size.
  const std::string first = numapin::RenderMetrics(snapshot);
  std::vector<double> wall_ms, cpu_ms;
  wall_ms.reserve(iterations);
  cpu_ms.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    double cpu_start = ThreadCpuMs();
    std::string text = numapin::RenderMetrics(snapshot);
    cpu_ms.push_back(ThreadCpuMs() - cpu_start);
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (text.size() != first.size()) {
      std::fprintf(stderr, "render %d differs in size from the first one\n", i);
      return 1;
    }
  }
  std::sort(wall_ms.begin(), wall_ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());

  const double p50 = Percentile(wall_ms, 0.50);
  const double p99 = Percentile(wall_ms, 0.99);
  const double cpu_p50 = Percentile(cpu_ms, 0.50);
  const double cpu_p99 = Percentile(cpu_ms, 0.99);
  const size_t samples = CountSamples(first);
  std::printf("/metrics render: 500 containers, 384 CPUs, %zu samples, %zu bytes\n", samples,
              first.size());
  std::printf(
      "%d renders, wall: p50 %.3f ms, p99 %.3f ms, max %.3f ms (target p99 < %.1f ms: %s)\n",
      iterations, p50, p99, wall_ms.back(), kTargetP99Ms, p99 < kTargetP99Ms ? "met" : "missed");
  std::printf("%d renders, thread CPU: p50 %.3f ms, p99 %.3f ms\n", iterations, cpu_p50, cpu_p99);
  std::printf(
      "{\"bench\":\"metrics-render\",\"containers\":500,\"cpus\":384,\"iterations\":%d,"
      "\"samples\":%zu,\"bytes\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
      "\"cpu_p50_ms\":%.3f,\"cpu_p99_ms\":%.3f,\"target_p99_ms\":%.1f,\"target_met\":%s}\n",
      iterations, samples, first.size(), p50, p99, wall_ms.back(), cpu_p50, cpu_p99, kTargetP99Ms,
      p99 < kTargetP99Ms ? "true" : "false");
  return 0;
}
