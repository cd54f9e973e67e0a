// Creates and removes the test's own cgroups and child processes.
#include "tests/bpf/cgroup_fixture.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bpf/monitor.h"

namespace numapin::testing {
namespace {

std::atomic<int> cgroup_counter{0};

absl::Status WriteFile(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("failed to write '", value, "' to ", path));
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trim(const std::string& text) {
  size_t end = text.find_last_not_of(" \n\t");
  return end == std::string::npos ? "" : text.substr(0, end + 1);
}

void SpinFor(const timespec& duration) {
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long long limit = duration.tv_sec * 1000000000LL + duration.tv_nsec;
  for (;;) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long elapsed = (now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec);
    if (elapsed >= limit) return;
  }
}

[[noreturn]] void RunLoad(ChildProcess::Load load) {
  const timespec spin{0, 2000000};
  const timespec nap{0, load == ChildProcess::Load::kBusy ? 50000L : 1000L};
  for (;;) {
    if (load == ChildProcess::Load::kBusy) SpinFor(spin);
    nanosleep(&nap, nullptr);
  }
}

}  // namespace

CgroupHierarchies FindCgroupHierarchies(const std::string& mounts_path) {
  CgroupHierarchies found;
  std::ifstream mounts(mounts_path);
  std::string line;
  while (std::getline(mounts, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 4) continue;
    const std::string& mount_point = fields[1];
    const std::string& type = fields[2];
    if (type == "cgroup2" && !found.v2) found.v2 = mount_point;
    if (type != "cgroup") continue;
    for (absl::string_view option : absl::StrSplit(fields[3], ',')) {
      if (option == "cpuset" && !found.v1_cpuset) found.v1_cpuset = mount_point;
    }
  }
  return found;
}

absl::StatusOr<std::unique_ptr<TestCgroup>> TestCgroup::Create(const std::string& path,
                                                               const std::string& parent,
                                                               bool v1_cpuset) {
  if (mkdir(path.c_str(), 0755) != 0) {
    return absl::InternalError(
        absl::StrCat("failed to create cgroup ", path, ": ", strerror(errno)));
  }
  absl::StatusOr<uint64_t> id = bpf::CgroupIdOfPath(path);
  if (!id.ok()) {
    rmdir(path.c_str());
    return id.status();
  }
  std::unique_ptr<TestCgroup> cgroup(new TestCgroup(path, v1_cpuset, *id));
  if (v1_cpuset) {
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
      std::string value = Trim(ReadFile(absl::StrCat(parent, "/", file)));
      absl::Status status = WriteFile(absl::StrCat(path, "/", file), value);
      if (!status.ok()) return status;
    }
  }
  return cgroup;
}

absl::StatusOr<std::unique_ptr<TestCgroup>> TestCgroup::CreateRoot(const std::string& hierarchy,
                                                                   bool v1_cpuset) {
  std::string path =
      absl::StrCat(hierarchy, "/numapin-test-", getpid(), "-", cgroup_counter.fetch_add(1));
  return Create(path, hierarchy, v1_cpuset);
}

absl::StatusOr<std::unique_ptr<TestCgroup>> TestCgroup::CreateChild(const std::string& name) {
  return Create(absl::StrCat(path_, "/", name), path_, v1_cpuset_);
}

TestCgroup::~TestCgroup() {
  // Only processes this test added are moved. A dead one is already gone from cgroup.procs.
  std::string parent = path_.substr(0, path_.rfind('/'));
  for (pid_t pid : added_) {
    if (kill(pid, 0) == 0) {
      WriteFile(absl::StrCat(parent, "/cgroup.procs"), absl::StrCat(pid)).IgnoreError();
    }
  }
  // A reaped task can linger in the cgroup for a moment, which makes rmdir fail with EBUSY.
  for (int attempt = 0; attempt < 100 && rmdir(path_.c_str()) != 0 && errno == EBUSY; ++attempt) {
    usleep(10000);
  }
}

absl::Status TestCgroup::AddProcess(pid_t pid) {
  absl::Status status = WriteFile(absl::StrCat(path_, "/cgroup.procs"), absl::StrCat(pid));
  if (status.ok()) added_.push_back(pid);
  return status;
}

absl::Status TestCgroup::SetCpus(const std::string& cpu_list) {
  if (!v1_cpuset_) return absl::FailedPreconditionError("SetCpus needs a v1 cpuset cgroup");
  return WriteFile(absl::StrCat(path_, "/cpuset.cpus"), cpu_list);
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(Load load) {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(fds[1]);
    char byte;
    if (read(fds[0], &byte, 1) != 1) _exit(1);
    RunLoad(load);
  }
  close(fds[0]);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, fds[1]));
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::Stop() {
  if (release_fd_ >= 0) close(release_fd_);
  release_fd_ = -1;
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  // utime and stime add up to se.sum_exec_runtime (in microseconds), exit path included.
  rusage usage{};
  if (wait4(pid_, nullptr, 0, &usage) == pid_) {
    auto to_ns = [](const timeval& tv) {
      return tv.tv_sec * 1'000'000'000ULL + tv.tv_usec * 1000ULL;
    };
    final_run_time_ns_ = to_ns(usage.ru_utime) + to_ns(usage.ru_stime);
  }
  pid_ = -1;
}

uint64_t ChildProcess::RunTimeNs() const {
  if (pid_ <= 0) return final_run_time_ns_;
  // The first field of /proc/<pid>/schedstat is the time on CPU in nanoseconds.
  std::ifstream schedstat(absl::StrCat("/proc/", pid_, "/schedstat"));
  uint64_t run_time_ns = 0;
  schedstat >> run_time_ns;
  return run_time_ns;
}

absl::Status ChildProcess::Release() {
  if (release_fd_ < 0 || write(release_fd_, "x", 1) != 1) {
    return absl::InternalError(absl::StrCat("failed to release child ", pid_));
  }
  return absl::OkStatus();
}

absl::Status ChildProcess::MakeRealtime() {
  sched_param param{};
  param.sched_priority = 1;
  if (sched_setscheduler(pid_, SCHED_FIFO, &param) != 0) {
    return absl::InternalError(
        absl::StrCat("failed to make child ", pid_, " SCHED_FIFO: ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ChildProcess::PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(pid_, sizeof(set), &set) != 0) {
    return absl::InternalError(
        absl::StrCat("failed to pin child ", pid_, " to CPU ", cpu, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace numapin::testing
