// Tests that run inside the lab guest (tools/lab/run), never on the host: a cgroup v2 cpuset
// confined to one NUMA node must confine both the CPUs a process runs on and the node its new
// pages come from. These are the two kernel behaviours numapin's assignments rely on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string ReadTrimmed(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

// The guest's NUMA node ids in ascending order.
std::vector<int> NodeIds() {
  std::vector<int> ids;
  for (int id = 0; fs::exists("/sys/devices/system/node/node" + std::to_string(id)); ++id) {
    ids.push_back(id);
  }
  return ids;
}

std::string NodeCpuList(int node) {
  return ReadTrimmed("/sys/devices/system/node/node" + std::to_string(node) + "/cpulist");
}

// Formats a CPU mask in the kernel's list format, e.g. "0-3,6".
std::string FormatCpuList(const cpu_set_t& mask) {
  std::ostringstream out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &mask)) ++last;
    if (out.tellp() > 0) out << ',';
    out << cpu;
    if (last > cpu) out << '-' << last;
    cpu = last;
  }
  return out.str();
}

// A child cgroup of the guest's cgroup v2 root with the CPUs of one NUMA node and the memory
// of another (or the same), removed when the test ends. The processes moved into it must have
// exited by then.
class NodeCgroup {
 public:
  NodeCgroup(int cpus_node, int mems_node)
      : path_("/sys/fs/cgroup/numapin-test-" + std::to_string(getpid()) + "-node" +
              std::to_string(cpus_node)) {
    fs::create_directory(path_);
    std::ofstream(path_ / "cpuset.cpus") << NodeCpuList(cpus_node);
    std::ofstream(path_ / "cpuset.mems") << mems_node;
  }
  ~NodeCgroup() { rmdir(path_.c_str()); }

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Forks a child that moves itself into the cgroup, runs `body` and writes its result to the
// parent through a pipe. Returns that result, or a message starting with "child" on failure.
template <typename Body>
std::string RunInCgroup(const NodeCgroup& cgroup, Body body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "child: pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string result;
    {
      std::ofstream procs(cgroup.path() / "cgroup.procs");
      procs << 0 << std::flush;
      result = procs ? body() : "child: writing cgroup.procs failed";
    }
    ssize_t written = write(pipe_fds[1], result.data(), result.size());
    _exit(written == static_cast<ssize_t>(result.size()) ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string result;
  char buffer[256];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) result.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child: exited abnormally";
  return result;
}

std::string AffinityOfSelf() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return "child: sched_getaffinity failed";
  return FormatCpuList(mask);
}

// Touches a 4 MiB buffer and returns the NUMA node of each page, as a space-separated list
// of the distinct nodes seen.
std::string NodesOfNewPages() {
  constexpr size_t kBytes = 4 << 20;
  const size_t page = sysconf(_SC_PAGESIZE);
  auto* buffer = static_cast<char*>(
      mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (buffer == MAP_FAILED) return "child: mmap failed";

  std::vector<bool> seen;
  for (size_t offset = 0; offset < kBytes; offset += page) {
    buffer[offset] = 1;
    int node = -1;
    const long failed =
        syscall(SYS_get_mempolicy, &node, nullptr, 0, buffer + offset, MPOL_F_NODE | MPOL_F_ADDR);
    if (failed) return "child: get_mempolicy failed";
    if (node >= static_cast<int>(seen.size())) seen.resize(node + 1);
    seen[node] = true;
  }
  munmap(buffer, kBytes);

  std::string nodes;
  for (size_t node = 0; node < seen.size(); ++node) {
    if (seen[node]) nodes += (nodes.empty() ? "" : " ") + std::to_string(node);
  }
  return nodes;
}

TEST(GuestTopology, HasSeveralNumaNodes) {
  EXPECT_GE(NodeIds().size(), 2u) << "the lab guest must have at least two NUMA nodes";
}

TEST(GuestCpuset, ConfinesAffinityToEachNode) {
  for (int node : NodeIds()) {
    NodeCgroup cgroup(node, node);
    ASSERT_EQ(ReadTrimmed(cgroup.path() / "cpuset.cpus.effective"), NodeCpuList(node))
        << "node " << node;
    EXPECT_EQ(RunInCgroup(cgroup, AffinityOfSelf), NodeCpuList(node)) << "node " << node;
  }
}

// The child runs on the CPUs of the next node, so first-touch placement alone would put its
// pages there: only cpuset.mems puts them on `node`.
TEST(GuestCpuset, PlacesNewPagesOnEachNode) {
  const std::vector<int> nodes = NodeIds();
  for (int node : nodes) {
    const int cpus_node = (node + 1) % nodes.size();
    NodeCgroup cgroup(cpus_node, node);
    ASSERT_EQ(ReadTrimmed(cgroup.path() / "cpuset.mems.effective"), std::to_string(node));
    EXPECT_EQ(RunInCgroup(cgroup, NodesOfNewPages), std::to_string(node))
        << "memory node " << node << ", CPUs of node " << cpus_node;
  }
}

TEST(GuestFiles, FixturesAtSourcePath) {
  const fs::path fixture =
      fs::path(NUMAPIN_SOURCE_DIR) / "tests/fixtures/topologies/16em64t-4s2c2t.xml";
  EXPECT_TRUE(fs::is_regular_file(fixture)) << fixture << " is not in the guest";
}

}  // namespace
