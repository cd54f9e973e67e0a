// bpf-cost: measures the mean cost per sched_switch event of the numapin scheduler monitor
// (tracking 100 containers), of an empty tp_btf program and of a bpftrace one-liner. The costs
// come from the kernel's BPF run-time statistics while a pinned pipe ping-pong switches tasks.
//
//   build/bin/bpf-cost [--round_trips=200000] [--repeat=3] [--cpu=0] [--tracked=false]
//                      [--raw_tp]
//
// Needs root, cgroup2 and bpftrace. Prints one line per run and a final JSON line.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bpf/monitor.h"
#include "bpf_cost_empty.skel.h"

ABSL_FLAG(int, round_trips, 200000, "ping-pong round trips per measurement (2 switches each)");
ABSL_FLAG(int, repeat, 3, "measurements per program; the median is reported");
ABSL_FLAG(int, cpu, 0, "CPU both ping-pong processes are pinned to");
ABSL_FLAG(int, containers, 100, "cgroups the monitor tracks");
ABSL_FLAG(bool, tracked, true,
          "run the ping-pong in a tracked cgroup; false measures the path of host tasks");
ABSL_FLAG(bool, raw_tp, false, "load the monitor's raw_tp entry points instead of tp_btf");

namespace {

constexpr char kStatsSysctl[] = "/proc/sys/kernel/bpf_stats_enabled";
constexpr char kBpftraceProgram[] = "tracepoint:sched:sched_switch { @[cpu] = count(); }";

std::string saved_stats = "0";

void RestoreStats() { std::ofstream(kStatsSysctl) << saved_stats; }

void RestoreStatsAndExit(int signal) {
  RestoreStats();
  _exit(128 + signal);
}

// Thrown on any failure so that destructors remove the cgroups and unmount tracefs.
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& message) { throw BenchError(message); }

struct ProgStats {
  uint64_t run_time_ns = 0;
  uint64_t run_cnt = 0;
};

ProgStats ReadStats(int prog_fd) {
  bpf_prog_info info{};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &length) != 0) {
    Fail(absl::StrCat("failed to read BPF program info: ", strerror(errno)));
  }
  return {info.run_time_ns, info.run_cnt};
}

void PinSelf(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(2);
}

// Runs `round_trips` one-byte exchanges between two processes pinned to one CPU, so that each
// exchange switches twice. Both processes join `cgroup_procs` first when it is not empty.
void PingPong(int round_trips, int cpu, const std::string& cgroup_procs) {
  int ping[2];
  int pong[2];
  if (pipe(ping) != 0 || pipe(pong) != 0) Fail("pipe failed");
  std::vector<pid_t> children;
  for (int side = 0; side < 2; ++side) {
    pid_t pid = fork();
    if (pid < 0) Fail("fork failed");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (!cgroup_procs.empty()) std::ofstream(cgroup_procs) << getpid();
      PinSelf(cpu);
      int in = side == 0 ? pong[0] : ping[0];
      int out = side == 0 ? ping[1] : pong[1];
      char byte = 'x';
      if (side == 0 && write(out, &byte, 1) != 1) _exit(3);
      for (int i = 0; i < round_trips; ++i) {
        if (read(in, &byte, 1) != 1) _exit(4);
        if ((side == 1 || i + 1 < round_trips) && write(out, &byte, 1) != 1) _exit(5);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (int fd : {ping[0], ping[1], pong[0], pong[1]}) close(fd);
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("a ping-pong process failed");
  }
}

double MeasureNsPerEvent(int prog_fd, const std::string& cgroup_procs) {
  ProgStats before = ReadStats(prog_fd);
  PingPong(absl::GetFlag(FLAGS_round_trips), absl::GetFlag(FLAGS_cpu), cgroup_procs);
  ProgStats after = ReadStats(prog_fd);
  uint64_t events = after.run_cnt - before.run_cnt;
  if (events == 0) Fail("the program did not run during the ping-pong");
  return static_cast<double>(after.run_time_ns - before.run_time_ns) / events;
}

// Cgroups of the benchmark's own under the cgroup2 mount, removed by the destructor.
class BenchCgroups {
 public:
  BenchCgroups(const std::string& hierarchy, int count) {
    for (int i = 0; i < count; ++i) {
      std::string path = absl::StrCat(hierarchy, "/numapin-bench-", getpid(), "-", i);
      if (mkdir(path.c_str(), 0755) != 0) Fail(absl::StrCat("mkdir ", path, ": ", strerror(errno)));
      paths_.push_back(path);
    }
  }
  ~BenchCgroups() {
    // The ping-pong processes have exited, so the cgroups are empty.
    for (const std::string& path : paths_) rmdir(path.c_str());
  }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
};

std::string FindCgroup2() {
  std::ifstream mounts("/proc/mounts");
  std::string device, mount_point, type, rest;
  while (mounts >> device >> mount_point >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") return mount_point;
  }
  Fail("no cgroup2 mount in /proc/mounts");
}

double MeasureMonitor(const BenchCgroups& cgroups) {
  numapin::bpf::MonitorOptions options;
  options.max_slots = cgroups.paths().size();
  bool raw_tp = absl::GetFlag(FLAGS_raw_tp);
  options.attach = raw_tp ? numapin::bpf::AttachType::kRawTp : numapin::bpf::AttachType::kTpBtf;
  auto monitor = numapin::bpf::Monitor::Start(options);
  if (!monitor.ok()) Fail(monitor.status().ToString());

  numapin::CpuSet all_cpus = numapin::CpuSet::Range(0, libbpf_num_possible_cpus() - 1);
  for (size_t slot = 0; slot < cgroups.paths().size(); ++slot) {
    auto id = numapin::bpf::CgroupIdOfPath(cgroups.paths()[slot]);
    if (!id.ok()) Fail(id.status().ToString());
    auto status = (*monitor)->TrackCgroup(*id, slot, all_cpus, {0});
    if (!status.ok()) Fail(status.ToString());
  }
  bool tracked = absl::GetFlag(FLAGS_tracked);
  double ns = MeasureNsPerEvent((*monitor)->sched_switch_prog_fd(),
                                tracked ? cgroups.paths()[0] + "/cgroup.procs" : "");
  // The ping-pong ran in slot 0; a monitor that misclassified it would be measured cheaply.
  auto snapshot = (*monitor)->ReadCounters();
  uint64_t round_trips = absl::GetFlag(FLAGS_round_trips);
  if (tracked && (!snapshot.ok() || snapshot->slots[0].switches_in < round_trips)) {
    Fail("the monitor did not count the ping-pong processes' switches");
  }
  return ns;
}

double MeasureEmpty() {
  std::unique_ptr<bpf_cost_empty, decltype(&bpf_cost_empty__destroy)> skeleton(
      bpf_cost_empty__open_and_load(), &bpf_cost_empty__destroy);
  if (!skeleton || bpf_cost_empty__attach(skeleton.get()) != 0) {
    Fail("failed to load or attach the empty tp_btf program");
  }
  return MeasureNsPerEvent(bpf_program__fd(skeleton->progs.sched_switch_empty), "");
}

// Mounts tracefs for the run where it is missing, because bpftrace resolves tracepoints there.
class TracefsMount {
 public:
  TracefsMount() {
    struct stat st {};
    if (stat("/sys/kernel/tracing/events", &st) == 0) return;
    if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
      Fail(absl::StrCat("failed to mount tracefs at /sys/kernel/tracing: ", strerror(errno)));
    }
    mounted_ = true;
  }
  ~TracefsMount() {
    if (mounted_) umount("/sys/kernel/tracing");
  }

 private:
  bool mounted_ = false;
};

std::vector<uint32_t> ProgIds() {
  std::vector<uint32_t> ids;
  uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) ids.push_back(id);
  return ids;
}

// Starts bpftrace and returns the fd of its program once it runs on sched_switch.
int StartBpftrace(pid_t* pid) {
  std::vector<uint32_t> before = ProgIds();
  *pid = fork();
  if (*pid < 0) Fail("fork failed");
  if (*pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    freopen("/dev/null", "w", stdout);
    execlp("bpftrace", "bpftrace", "-e", kBpftraceProgram, nullptr);
    _exit(127);
  }
  for (int attempt = 0; attempt < 300; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(*pid, nullptr, WNOHANG) == *pid) Fail("bpftrace exited; is it installed?");
    for (uint32_t id : ProgIds()) {
      if (std::find(before.begin(), before.end(), id) != before.end()) continue;
      int fd = bpf_prog_get_fd_by_id(id);
      bpf_prog_info info{};
      uint32_t length = sizeof(info);
      if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &length) == 0 &&
          info.type == BPF_PROG_TYPE_TRACEPOINT && info.run_cnt > 0) {
        return fd;
      }
      if (fd >= 0) close(fd);
    }
  }
  Fail("bpftrace's program did not start running within 30 s");
}

double MeasureBpftrace() {
  pid_t pid = 0;
  int fd = StartBpftrace(&pid);
  double ns = MeasureNsPerEvent(fd, "");
  close(fd);
  kill(pid, SIGINT);
  waitpid(pid, nullptr, 0);
  return ns;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void Run() {
  int repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
  std::vector<double> monitor_ns, empty_ns, bpftrace_ns;
  TracefsMount tracefs;
  BenchCgroups cgroups(FindCgroup2(), absl::GetFlag(FLAGS_containers));
  for (int run = 0; run < repeat; ++run) {
    monitor_ns.push_back(MeasureMonitor(cgroups));
    empty_ns.push_back(MeasureEmpty());
    bpftrace_ns.push_back(MeasureBpftrace());
    printf("run %d: monitor %.1f ns, empty tp_btf %.1f ns, bpftrace %.1f ns per event\n", run,
           monitor_ns.back(), empty_ns.back(), bpftrace_ns.back());
    fflush(stdout);  // Before the next fork, so that no child repeats the buffered line.
  }
  printf(
      "{\"ns_per_event\": %.1f, \"empty_ns_per_event\": %.1f, \"bpftrace_ns_per_event\": %.1f}\n",
      Median(monitor_ns), Median(empty_ns), Median(bpftrace_ns));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (geteuid() != 0) {
    fprintf(stderr, "bpf-cost: run as root: loading BPF programs and creating cgroups need it\n");
    return 1;
  }
  std::ifstream(kStatsSysctl) >> saved_stats;
  signal(SIGINT, RestoreStatsAndExit);
  signal(SIGTERM, RestoreStatsAndExit);
  std::ofstream(kStatsSysctl) << "1";

  int exit_code = 0;
  try {
    Run();
  } catch (const BenchError& error) {
    fprintf(stderr, "bpf-cost: %s\n", error.what());
    exit_code = 1;
  }
  RestoreStats();
  return exit_code;
}
