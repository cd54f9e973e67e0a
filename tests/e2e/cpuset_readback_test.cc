// CpusetReadback on real cgroups (root): a kept cpuset file returns what was written, a removed
// cgroup reads as NotFound, and one made again under the same name is read through a new
// descriptor. On cgroup v2 it checks the kernel behaviour the kept descriptors rely on: a control
// file of a removed cgroup fails with ENODEV. Cgroups are made under numapin-test-<pid> and
// removed.
#include "daemon/cgroup/cpuset_readback.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

constexpr char kCpusetMount[] = "/sys/fs/cgroup/cpuset";
constexpr char kUnifiedMount[] = "/sys/fs/cgroup/unified";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteText(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.close();
  return !out.fail();
}

// A private root under a cgroup mount, removed with everything in it at the end.
class CgroupRoot {
 public:
  explicit CgroupRoot(const std::string& mount)
      : path_(absl::StrCat(mount, "/numapin-test-", getpid())) {}
  ~CgroupRoot() {
    for (auto dir = made_.rbegin(); dir != made_.rend(); ++dir) rmdir(dir->c_str());
  }

  // Makes `name` under the root (the root first), copying cpuset.cpus and cpuset.mems from the
  // parent on v1, where a cpuset cgroup starts empty.
  bool Make(const std::string& name, bool copy_cpuset) {
    for (const std::string& dir : {path_, absl::StrCat(path_, "/", name)}) {
      if (access(dir.c_str(), F_OK) == 0) continue;
      if (mkdir(dir.c_str(), 0755) != 0) return false;
      made_.push_back(dir);
      if (!copy_cpuset) continue;
      const std::string parent = dir.substr(0, dir.rfind('/'));
      for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        if (!WriteText(absl::StrCat(dir, "/", file), ReadText(absl::StrCat(parent, "/", file)))) {
          return false;
        }
      }
    }
    return true;
  }

  bool Remove(const std::string& name) {
    return rmdir(absl::StrCat(path_, "/", name).c_str()) == 0;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> made_;
};

class CpusetReadbackV1Test : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || access(kCpusetMount, W_OK) != 0) {
      GTEST_SKIP() << "needs root and a writable v1 cpuset hierarchy at " << kCpusetMount;
    }
    ASSERT_TRUE(root_.Make("c1", true)) << root_.path() << ": " << std::strerror(errno);
    absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(root_.path());
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
    cpus_ = ReadText(absl::StrCat(root_.path(), "/c1/cpuset.cpus"));
  }

  CgroupRoot root_{kCpusetMount};
  std::unique_ptr<CgroupFiles> files_;
  std::string cpus_;  // What c1 inherited.
};

TEST_F(CpusetReadbackV1Test, KeptFileSeesWrite) {
  CpusetReadback readback(files_.get(), 100);
  absl::StatusOr<CpusetValues> before = readback.Read("c1");
  ASSERT_TRUE(before.ok()) << before.status();
  const int first = before->cpus.First();
  ASSERT_GE(first, 0) << "c1 has no CPU";

  ASSERT_TRUE(WriteText(absl::StrCat(root_.path(), "/c1/cpuset.cpus"), std::to_string(first)));
  absl::StatusOr<CpusetValues> after = readback.Read("c1");

  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->cpus, CpuSet{first});
  EXPECT_EQ(readback.open_files(), 2u);
}

TEST_F(CpusetReadbackV1Test, RemovedCgroupIsNotFound) {
  CpusetReadback readback(files_.get(), 100);
  ASSERT_TRUE(readback.Read("c1").ok());

  ASSERT_TRUE(root_.Remove("c1")) << std::strerror(errno);
  absl::StatusOr<CpusetValues> values = readback.Read("c1");

  EXPECT_TRUE(absl::IsNotFound(values.status())) << values.status();
  EXPECT_EQ(readback.open_files(), 0u) << "the removed cgroup's files must be closed";
}

TEST_F(CpusetReadbackV1Test, CgroupMadeAgainIsReadAnew) {
  CpusetReadback readback(files_.get(), 100);
  absl::StatusOr<CpusetValues> before = readback.Read("c1");
  ASSERT_TRUE(before.ok()) << before.status();
  const int first = before->cpus.First();
  ASSERT_GE(first, 0) << "c1 has no CPU";

  ASSERT_TRUE(root_.Remove("c1")) << std::strerror(errno);
  ASSERT_TRUE(root_.Make("c1", true)) << std::strerror(errno);
  ASSERT_TRUE(WriteText(absl::StrCat(root_.path(), "/c1/cpuset.cpus"), std::to_string(first)));
  absl::StatusOr<CpusetValues> after = readback.Read("c1");

  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->cpus, CpuSet{first}) << "must read the new cgroup, not the removed one";
}

TEST(CpusetReadbackV2, RemovedCgroupFileFailsWithEnodev) {
  if (geteuid() != 0 || access(kUnifiedMount, W_OK) != 0) {
    GTEST_SKIP() << "needs root and a writable cgroup v2 hierarchy at " << kUnifiedMount;
  }
  CgroupRoot root(kUnifiedMount);
  ASSERT_TRUE(root.Make("c1", false)) << root.path() << ": " << std::strerror(errno);
  absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(root.path());
  ASSERT_TRUE(files.ok()) << files.status();
  // cgroup.max.depth exists in every v2 cgroup; cpuset files are kernfs seq_files like it.
  absl::StatusOr<int> fd = (*files)->OpenForReading("c1", "cgroup.max.depth");
  ASSERT_TRUE(fd.ok()) << fd.status();
  char buffer[64];
  ASSERT_GT(pread(*fd, buffer, sizeof(buffer), 0), 0);
  ASSERT_TRUE(WriteText(absl::StrCat(root.path(), "/c1/cgroup.max.depth"), "5"));
  const ssize_t rewritten = pread(*fd, buffer, sizeof(buffer), 0);
  const std::string text(buffer, rewritten > 0 ? static_cast<size_t>(rewritten) : 0);
  const bool removed_ok = root.Remove("c1");
  const ssize_t removed = pread(*fd, buffer, sizeof(buffer), 0);
  const int error = errno;
  close(*fd);

  EXPECT_EQ(text, "5\n") << "pread at offset 0 must return the value just written";
  ASSERT_TRUE(removed_ok) << "rmdir of c1 failed";
  EXPECT_EQ(removed, -1);
  EXPECT_EQ(error, ENODEV) << std::strerror(error);
}

}  // namespace
}  // namespace numapin
