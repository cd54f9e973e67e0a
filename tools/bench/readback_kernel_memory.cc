// bench-readback-kernel-memory: kernel memory that CpusetReadback's kept descriptors cost. Makes
// N container cgroups under /sys/fs/cgroup/cpuset/numapin-test-<pid>/, reads each one's
// cpuset.cpus and cpuset.mems once through the path (open, read, close, as a read-back without
// kept files does, so that dentries and inodes exist before the first snapshot), then reads them
// through CpusetReadback, which keeps both files open as numapind does. The difference between
// /proc/meminfo and /proc/slabinfo before and after is the kept files' cost; closing them shows
// how much of it comes back. Each round makes and removes its own cgroups. Needs root and a v1
// cpuset hierarchy.
//
//   bench-readback-kernel-memory [--containers=N] [--rounds=N]
//
// Other processes allocate and free slab objects meanwhile, so each figure is the median of the
// rounds, and the per-round figures are printed too.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/cpuset_readback.h"

namespace numapin {
namespace {

constexpr char kCpusetMount[] = "/sys/fs/cgroup/cpuset";

struct Flags {
  int containers = 500;
  int rounds = 5;
};

// Kernel memory counters at one moment: meminfo fields in bytes, and the bytes of the active
// objects of every slab cache (active_objs times objsize).
struct MemorySnapshot {
  int64_t slab = 0;
  int64_t sunreclaim = 0;
  std::map<std::string, int64_t> caches;
};

int64_t MeminfoBytes(const std::string& text, const std::string& field) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, field + ":")) continue;
    std::istringstream value(line.substr(field.size() + 1));
    int64_t kib = 0;
    value >> kib;
    return kib * 1024;
  }
  return -1;
}

MemorySnapshot TakeSnapshot() {
  MemorySnapshot snapshot;
  std::ifstream meminfo("/proc/meminfo");
  std::string text((std::istreambuf_iterator<char>(meminfo)), std::istreambuf_iterator<char>());
  snapshot.slab = MeminfoBytes(text, "Slab");
  snapshot.sunreclaim = MeminfoBytes(text, "SUnreclaim");

  std::ifstream slabinfo("/proc/slabinfo");
  std::string line;
  while (std::getline(slabinfo, line)) {
    if (line.empty() || line[0] == '#' || absl::StartsWith(line, "slabinfo")) continue;
    std::istringstream fields(line);
    std::string name;
    int64_t active = 0, total = 0, size = 0;
    if (fields >> name >> active >> total >> size) snapshot.caches[name] = active * size;
  }
  return snapshot;
}

// Per-cache growth from `before` to `after`, largest first.
std::vector<std::pair<std::string, int64_t>> CacheGrowth(const MemorySnapshot& before,
                                                         const MemorySnapshot& after) {
  std::vector<std::pair<std::string, int64_t>> growth;
  for (const auto& [name, bytes] : after.caches) {
    auto old = before.caches.find(name);
    growth.emplace_back(name, bytes - (old == before.caches.end() ? 0 : old->second));
  }
  std::sort(growth.begin(), growth.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return growth;
}

struct RoundResult {
  int64_t kept_slab = 0;        // Slab growth while the files are kept open.
  int64_t kept_sunreclaim = 0;  // SUnreclaim growth while the files are kept open.
  int64_t released_slab = 0;    // Slab that closing the files gave back.
  std::vector<std::pair<std::string, int64_t>> top_caches;
};

// Makes the round's container cgroups with the root's CPUs and memory nodes and reads both files
// of each once through the path. Returns false, after printing why, when one step failed.
bool MakeContainers(CgroupFiles& files, int count, std::vector<std::string>& made) {
  absl::StatusOr<std::string> cpus = files.Read("", "cpuset.cpus");
  absl::StatusOr<std::string> mems = files.Read("", "cpuset.mems");
  if (!cpus.ok() || !mems.ok()) {
    std::fprintf(stderr, "reading the root's cpuset failed: %s %s\n",
                 cpus.status().ToString().c_str(), mems.status().ToString().c_str());
    return false;
  }
  for (int i = 0; i < count; ++i) {
    const std::string dir = absl::StrFormat("container-%04d", i);
    const std::string path = files.AbsolutePath(dir);
    if (mkdir(path.c_str(), 0755) != 0) {
      std::perror(("mkdir " + path).c_str());
      return false;
    }
    made.push_back(path);
    absl::Status written = files.Write(dir, "cpuset.cpus", *cpus);
    if (written.ok()) written = files.Write(dir, "cpuset.mems", *mems);
    if (written.ok()) written = files.Read(dir, "cpuset.cpus").status();
    if (written.ok()) written = files.Read(dir, "cpuset.mems").status();
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", written.ToString().c_str());
      return false;
    }
  }
  return true;
}

// Reads every container through `readback` twice, so that both reads of numapind's read-back
// (the opening one and a pread on the kept descriptor) have run. False on the first error.
bool ReadAll(CpusetReadback& readback, int count) {
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<CpusetValues> values = readback.Read(absl::StrFormat("container-%04d", i));
      if (!values.ok()) {
        std::fprintf(stderr, "%s\n", values.status().ToString().c_str());
        return false;
      }
    }
  }
  return true;
}

bool RunRound(CgroupFiles& files, int count, RoundResult& result) {
  std::vector<std::string> made;
  bool ok = MakeContainers(files, count, made);
  if (ok) {
    auto readback = std::make_unique<CpusetReadback>(&files, CpusetReadback::DefaultMaxOpenFiles());
    const MemorySnapshot before = TakeSnapshot();
    ok = ReadAll(*readback, count) && readback->open_files() == static_cast<size_t>(2 * count);
    if (!ok) {
      std::fprintf(stderr, "kept %zu files, expected %d\n", readback->open_files(), 2 * count);
    }
    const MemorySnapshot kept = TakeSnapshot();
    readback.reset();
    const MemorySnapshot closed = TakeSnapshot();

    result.kept_slab = kept.slab - before.slab;
    result.kept_sunreclaim = kept.sunreclaim - before.sunreclaim;
    result.released_slab = kept.slab - closed.slab;
    result.top_caches = CacheGrowth(before, kept);
    result.top_caches.resize(std::min<size_t>(result.top_caches.size(), 6));
  }
  for (auto path = made.rbegin(); path != made.rend(); ++path) {
    if (rmdir(path->c_str()) != 0) {
      std::perror(("rmdir " + *path).c_str());
      ok = false;
    }
  }
  return ok;
}

double Median(std::vector<int64_t> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2.0;
}

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

// Returns false, after printing why, on an unknown or invalid argument.
bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--containers=")) {
      flags.containers = std::atoi(arg.c_str() + 13);
    } else if (absl::StartsWith(arg, "--rounds=")) {
      flags.rounds = std::atoi(arg.c_str() + 9);
    } else {
      std::fprintf(stderr, "unknown argument %s; expected --containers=N or --rounds=N\n",
                   arg.c_str());
      return false;
    }
  }
  if (flags.containers < 1 || flags.rounds < 1) {
    std::fprintf(stderr, "--containers and --rounds must be at least 1\n");
    return false;
  }
  return true;
}

// numapind raises the soft descriptor limit to the hard one at start, and so does this tool.
// The read-back keeps at most half of it, so it must allow two files per container twice over.
bool RaiseFileLimit(int containers) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (CpusetReadback::DefaultMaxOpenFiles() < static_cast<size_t>(2 * containers)) {
    std::fprintf(stderr, "RLIMIT_NOFILE %llu is too low for %d containers; raise the hard limit\n",
                 static_cast<unsigned long long>(limit.rlim_max), containers);
    return false;
  }
  return true;
}

void PrintRound(int round, int files, const RoundResult& result) {
  std::printf(
      "round %d: Slab %+.2f MiB, SUnreclaim %+.2f MiB (%.0f bytes a file); closing gave "
      "back %.2f MiB; largest cache growth:",
      round, MiB(result.kept_slab), MiB(result.kept_sunreclaim),
      static_cast<double>(result.kept_slab) / files, MiB(result.released_slab));
  for (const auto& [name, bytes] : result.top_caches) {
    std::printf(" %s %+.0f KiB", name.c_str(), bytes / 1024.0);
  }
  std::printf("\n");
  std::fflush(stdout);
}

// Prints the medians over the rounds as one JSON line.
void PrintSummary(const std::vector<RoundResult>& results, int containers) {
  std::vector<int64_t> slab, sunreclaim, released;
  for (const RoundResult& result : results) {
    slab.push_back(result.kept_slab);
    sunreclaim.push_back(result.kept_sunreclaim);
    released.push_back(result.released_slab);
  }
  std::printf(
      "{\"containers\":%d,\"files\":%d,\"rounds\":%zu,\"kept_slab_mib\":%.2f,"
      "\"kept_sunreclaim_mib\":%.2f,\"released_slab_mib\":%.2f,\"slab_bytes_per_file\":%.0f}\n",
      containers, 2 * containers, results.size(), MiB(Median(slab)), MiB(Median(sunreclaim)),
      MiB(Median(released)), Median(slab) / (2 * containers));
}

bool StopRequested(const sigset_t& stop_signals) {
  sigset_t pending;
  if (sigpending(&pending) != 0) return false;
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigismember(&stop_signals, signal) && sigismember(&pending, signal)) return true;
  }
  return false;
}

// A v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, so the root takes its
// parent's before any child can get CPUs.
bool CopyCpuset(const std::string& from, const std::string& to) {
  for (const char* name : {"cpuset.cpus", "cpuset.mems"}) {
    std::string value;
    std::ifstream(absl::StrCat(from, "/", name)) >> value;
    std::ofstream out(absl::StrCat(to, "/", name));
    out << value;
    out.close();
    if (value.empty() || !out) {
      std::fprintf(stderr, "copying %s/%s (\"%s\") to %s failed\n", from.c_str(), name,
                   value.c_str(), to.c_str());
      return false;
    }
  }
  return true;
}

int Run(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) return 2;
  if (!RaiseFileLimit(flags.containers)) return 1;

  // SIGINT, SIGTERM and SIGHUP stay pending until the running round has removed its cgroups;
  // then the root is removed too and the tool exits 1.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, signal);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string root = absl::StrCat(kCpusetMount, "/numapin-test-", getpid());
  if (mkdir(root.c_str(), 0755) != 0) {
    std::perror(("mkdir " + root).c_str());
    return 1;
  }
  std::vector<RoundResult> results;
  bool ok = CopyCpuset(kCpusetMount, root);
  if (ok) {
    absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(root);
    ok = files.ok();
    if (!ok) std::fprintf(stderr, "%s\n", files.status().ToString().c_str());
    for (int round = 1; ok && round <= flags.rounds; ++round) {
      if (StopRequested(stop_signals)) {
        std::fprintf(stderr, "stopped by a signal after %d rounds\n", round - 1);
        ok = false;
        break;
      }
      RoundResult result;
      ok = RunRound(**files, flags.containers, result);
      if (ok) PrintRound(round, 2 * flags.containers, result);
      results.push_back(result);
    }
  }
  if (rmdir(root.c_str()) != 0) {
    std::perror(("rmdir " + root).c_str());
    ok = false;
  }
  if (!ok || results.empty()) return 1;
  PrintSummary(results, flags.containers);
  return 0;
}

}  // namespace
}  // namespace numapin

int main(int argc, char** argv) { return numapin::Run(argc, argv); }
