// bench-metrics-render: times RenderMetrics (the /metrics body) on a large node, 500 tracked
// containers on 384 CPUs over 4 NUMA nodes, against the 5 ms p99 target. Then it times whole
// scrapes of a MetricsServer on loopback, with and without gzip. It reports wall-clock time and
// the rendering thread's CPU time, because on a busy machine the wall time includes waiting for
// a CPU. The last output line is one JSON object for scripts.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "daemon/metrics/http_server.h"
#include "daemon/metrics/render.h"
#include "httplib.h"
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

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

Percentiles Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {Percentile(ms, 0.50), Percentile(ms, 0.99), ms.back()};
}

// Wall and thread CPU time of `iterations` renders; fails if a render's size changes.
bool TimeRenders(const numapin::DaemonSnapshot& snapshot, int iterations, size_t expected_size,
                 Percentiles& wall, Percentiles& cpu) {
  std::vector<double> wall_ms, cpu_ms;
  for (int i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    double cpu_start = ThreadCpuMs();
    std::string text = numapin::RenderMetrics(snapshot);
    cpu_ms.push_back(ThreadCpuMs() - cpu_start);
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (text.size() != expected_size) {
      std::fprintf(stderr, "render %d differs in size from the first one\n", i);
      return false;
    }
  }
  wall = Summarize(wall_ms);
  cpu = Summarize(cpu_ms);
  return true;
}

// Wall time of GET /metrics on loopback. The snapshot does not change, so the server renders it
// once, and every later scrape measures the transfer and, with gzip, the compression.
bool TimeScrapes(const numapin::SnapshotBox& box, const std::string& accept_encoding,
                 int iterations, Percentiles& wall) {
  auto server = numapin::MetricsServer::Start({.address = "127.0.0.1:0"}, &box);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return false;
  }
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_decompress(false);
  std::vector<double> wall_ms;
  for (int i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    httplib::Result result = client.Get("/metrics", {{"Accept-Encoding", accept_encoding}});
    if (!result || result->status != 200) {
      std::fprintf(stderr, "scrape %d failed\n", i);
      return false;
    }
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  wall = Summarize(wall_ms);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 1000;
  if (argc > 1 && (!absl::SimpleAtoi(argv[1], &iterations) || iterations <= 0)) {
    std::fprintf(stderr, "usage: bench-metrics-render [ITERATIONS]  (default 1000, positive)\n");
    return 2;
  }
  auto snapshot = std::make_shared<numapin::DaemonSnapshot>(numapin::MakeTestSnapshot(
      {.containers = 500, .cpus = 384, .numa_nodes = 4, .reserved_cpus = 4, .violations = 64}));

  // One untimed render warms the allocator and gives the size.
  const std::string first = numapin::RenderMetrics(*snapshot);
  Percentiles wall, cpu, scrape, scrape_gzip;
  if (!TimeRenders(*snapshot, iterations, first.size(), wall, cpu)) return 1;
  numapin::SnapshotBox box;
  box.Publish(snapshot);
  const int scrapes = std::max(1, iterations / 10);
  if (!TimeScrapes(box, "identity", scrapes, scrape)) return 1;
  if (!TimeScrapes(box, "gzip", scrapes, scrape_gzip)) return 1;

  const size_t samples = CountSamples(first);
  const bool met = wall.p99 < kTargetP99Ms;
  std::printf("/metrics render: 500 containers, 384 CPUs, %zu samples, %zu bytes\n", samples,
              first.size());
  std::printf(
      "%d renders, wall: p50 %.3f ms, p99 %.3f ms, max %.3f ms (target p99 < %.1f ms: %s)\n",
      iterations, wall.p50, wall.p99, wall.max, kTargetP99Ms, met ? "met" : "missed");
  std::printf("%d renders, thread CPU: p50 %.3f ms, p99 %.3f ms\n", iterations, cpu.p50, cpu.p99);
  std::printf(
      "%d scrapes, wall: identity p50 %.3f ms, p99 %.3f ms; gzip p50 %.3f ms, p99 %.3f ms\n",
      scrapes, scrape.p50, scrape.p99, scrape_gzip.p50, scrape_gzip.p99);
  std::printf(
      "{\"bench\":\"metrics-render\",\"containers\":500,\"cpus\":384,\"iterations\":%d,"
      "\"samples\":%zu,\"bytes\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
      "\"cpu_p50_ms\":%.3f,\"cpu_p99_ms\":%.3f,\"scrape_p50_ms\":%.3f,\"scrape_p99_ms\":%.3f,"
      "\"scrape_gzip_p50_ms\":%.3f,\"scrape_gzip_p99_ms\":%.3f,\"target_p99_ms\":%.1f,"
      "\"target_met\":%s}\n",
      iterations, samples, first.size(), wall.p50, wall.p99, wall.max, cpu.p50, cpu.p99, scrape.p50,
      scrape.p99, scrape_gzip.p50, scrape_gzip.p99, kTargetP99Ms, met ? "true" : "false");
  return 0;
}
