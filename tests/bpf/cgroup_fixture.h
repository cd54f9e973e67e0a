// Cgroups and processes of the monitor tests: finds the v1 cpuset and v2 hierarchies in
// /proc/mounts, creates numapin-test-<pid> trees and child processes, and removes all of them
// when they go out of scope, also when a test fails.
#ifndef NUMAPIN_TESTS_BPF_CGROUP_FIXTURE_H_
#define NUMAPIN_TESTS_BPF_CGROUP_FIXTURE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace numapin::testing {

struct CgroupHierarchies {
  std::optional<std::string> v1_cpuset;  // mount point of the v1 hierarchy with cpuset
  std::optional<std::string> v2;         // mount point of cgroup2
};

// Parses a mounts table in /proc/mounts format.
CgroupHierarchies FindCgroupHierarchies(const std::string& mounts_path = "/proc/mounts");

// A cgroup directory this test created. The destructor moves the test's processes still in it
// to the parent cgroup and removes it; children must be destroyed first.
class TestCgroup {
 public:
  // Creates <hierarchy>/numapin-test-<pid>-<n>. In a v1 cpuset hierarchy the new cgroup gets
  // its parent's CPUs and memory nodes, without which it accepts no task.
  static absl::StatusOr<std::unique_ptr<TestCgroup>> CreateRoot(const std::string& hierarchy,
                                                                bool v1_cpuset);
  absl::StatusOr<std::unique_ptr<TestCgroup>> CreateChild(const std::string& name);
  ~TestCgroup();

  absl::Status AddProcess(pid_t pid);
  // Writes cpuset.cpus (v1 only; a v2 test moves tasks with sched_setaffinity instead).
  absl::Status SetCpus(const std::string& cpu_list);

  const std::string& path() const { return path_; }
  uint64_t id() const { return id_; }

 private:
  TestCgroup(std::string path, bool v1_cpuset, uint64_t id)
      : path_(std::move(path)), v1_cpuset_(v1_cpuset), id_(id) {}
  static absl::StatusOr<std::unique_ptr<TestCgroup>> Create(const std::string& path,
                                                            const std::string& parent,
                                                            bool v1_cpuset);

  std::string path_;
  bool v1_cpuset_;
  uint64_t id_;
  std::vector<pid_t> added_;
};

// A child process that the destructor kills by PID and reaps. It waits for Release() before
// starting its load, so that a test can first move it into a cgroup and pin it.
class ChildProcess {
 public:
  enum class Load {
    kBusy,   // spins, with a short sleep every 2 ms so that it switches often
    kStorm,  // sleeps 1 us in a loop: a switch-in per iteration
  };
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(Load load);
  ~ChildProcess();

  absl::Status Release();
  absl::Status PinTo(int cpu);
  // Moves the process to SCHED_FIFO at priority 1.
  absl::Status MakeRealtime();
  // Kills and reaps the process, and records its run time through the end of its exit.
  void Stop();
  // CPU time the kernel charged to the process (se.sum_exec_runtime), in nanoseconds: the
  // current value while it runs, the final one after Stop().
  uint64_t RunTimeNs() const;
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, int release_fd) : pid_(pid), release_fd_(release_fd) {}
  pid_t pid_;
  int release_fd_;
  uint64_t final_run_time_ns_ = 0;
};

}  // namespace numapin::testing

#endif  // NUMAPIN_TESTS_BPF_CGROUP_FIXTURE_H_
