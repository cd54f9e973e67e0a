// bench-allocator: decision latency of NodeAllocator. Allocates 1,000 single-container pods of
// 1-16 CPUs (seeded, uniform) on a topology, releasing a random live pod whenever 40 are
// live, and prints percentiles of the time per AddRequest call, then a JSON line.
//
//   bench-allocator [--topology=xml:PATH] [--reserved-cpus=LIST] [--seed=N] [--decisions=N]
//                   [--spill-on-shortage] [--keep-node-holes] [--sharing-budget-percent=N]
//                   [--nearly-full-percent=N]
//
// --spill-on-shortage spreads requests over several NUMA nodes whenever no node has room, which
// times the spill search as well. The other flags set the AllocatorOptions fields of their names;
// without them the allocator runs with its defaults.
#include "policy/allocator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "policy/topology.h"

namespace numapin {
namespace {

constexpr int kLivePods = 40;  // About 340 CPUs held on average: a nearly full 384-CPU node.

double Percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(fraction * (values.size() - 1) + 0.5);
  return values[index];
}

struct Flags {
  std::string source =
      std::string("xml:") + NUMAPIN_SOURCE_DIR + "/tests/fixtures/topologies/192em64t-24n8c2t.xml";
  std::string reserved = "0,192";
  unsigned seed = 1;
  int decisions = 1000;
  bool spill_on_shortage = false;
  bool keep_node_holes = false;
  std::optional<int> sharing_budget_percent;
  std::optional<int> nearly_full_percent;
};

// Returns false, after printing why, on an unknown argument.
bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--topology=")) {
      flags.source = arg.substr(11);
    } else if (absl::StartsWith(arg, "--reserved-cpus=")) {
      flags.reserved = arg.substr(16);
    } else if (absl::StartsWith(arg, "--seed=")) {
      flags.seed = static_cast<unsigned>(std::stoul(arg.substr(7)));
    } else if (absl::StartsWith(arg, "--decisions=")) {
      flags.decisions = std::stoi(arg.substr(12));
    } else if (arg == "--spill-on-shortage") {
      flags.spill_on_shortage = true;
    } else if (arg == "--keep-node-holes") {
      flags.keep_node_holes = true;
    } else if (absl::StartsWith(arg, "--sharing-budget-percent=")) {
      flags.sharing_budget_percent = std::stoi(arg.substr(25));
    } else if (absl::StartsWith(arg, "--nearly-full-percent=")) {
      flags.nearly_full_percent = std::stoi(arg.substr(22));
    } else {
      std::fprintf(stderr, "bench-allocator: unknown argument %s\n", arg.c_str());
      return false;
    }
  }
  return true;
}

double MicrosecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

struct Timings {
  std::vector<double> add_us;
  std::vector<double> remove_us;
  int rejected = 0;
};

Timings Churn(NodeAllocator& allocator, const Flags& flags) {
  std::mt19937 random(flags.seed);
  std::uniform_int_distribution<int> size(1, 16);
  std::vector<std::string> live;
  Timings timings;
  for (int i = 0; i < flags.decisions; ++i) {
    if (static_cast<int>(live.size()) >= kLivePods) {
      size_t victim = std::uniform_int_distribution<size_t>(0, live.size() - 1)(random);
      auto start = std::chrono::steady_clock::now();
      allocator.RemovePod(live[victim]);
      timings.remove_us.push_back(MicrosecondsSince(start));
      live.erase(live.begin() + victim);
    }
    PodRequest request;
    request.pod_uid = absl::StrCat("uid-", i);
    request.pod_key = absl::StrCat("bench/pod-", i);
    request.qos = QosClass::kGuaranteed;
    ContainerRequest container;
    container.container = "app";
    container.exclusive_cpus = size(random);
    request.containers.push_back(container);

    auto start = std::chrono::steady_clock::now();
    std::vector<ContainerDecision> result = allocator.AddRequest(request);
    timings.add_us.push_back(MicrosecondsSince(start));
    if (result.at(0).exclusive) {
      live.push_back(request.pod_uid);
    } else {
      ++timings.rejected;
    }
  }
  return timings;
}

int Run(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) return 2;
  absl::StatusOr<Topology> topology = LoadTopology(flags.source);
  absl::StatusOr<CpuSet> reserved = CpuSet::Parse(flags.reserved);
  if (!topology.ok() || !reserved.ok()) {
    absl::Status status = topology.ok() ? reserved.status() : topology.status();
    std::fprintf(stderr, "bench-allocator: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  AllocatorOptions options;
  options.reserved_cpus = *reserved;
  options.spill_on_shortage = flags.spill_on_shortage;
  options.keep_node_holes = flags.keep_node_holes;
  if (flags.sharing_budget_percent) options.sharing_budget_percent = *flags.sharing_budget_percent;
  if (flags.nearly_full_percent) options.nearly_full_percent = *flags.nearly_full_percent;
  absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(*topology, options);
  if (!allocator.ok()) {
    std::fprintf(stderr, "bench-allocator: %s\n",
                 std::string(allocator.status().message()).c_str());
    return 1;
  }

  Timings t = Churn(*allocator, flags);
  double p50 = Percentile(t.add_us, 0.5);
  double p99 = Percentile(t.add_us, 0.99);
  double max = Percentile(t.add_us, 1.0);
  std::printf("topology %s, %d decisions, %d rejected\n", flags.source.c_str(), flags.decisions,
              t.rejected);
  std::printf("add:    p50 %.2f us  p99 %.2f us  max %.2f us\n", p50, p99, max);
  std::printf("remove: p50 %.2f us  p99 %.2f us\n", Percentile(t.remove_us, 0.5),
              Percentile(t.remove_us, 0.99));
  std::printf(
      "{\"topology\":\"%s\",\"decisions\":%d,\"rejected\":%d,\"p50_us\":%.2f,\"p99_us\":%.2f,"
      "\"max_us\":%.2f,\"remove_p99_us\":%.2f}\n",
      flags.source.c_str(), flags.decisions, t.rejected, p50, p99, max,
      Percentile(t.remove_us, 0.99));
  return 0;
}

}  // namespace
}  // namespace numapin

int main(int argc, char** argv) { return numapin::Run(argc, argv); }
