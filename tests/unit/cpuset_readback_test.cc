// CpusetReadback over the in-memory fake (reads by path) and over real files in a temporary
// directory (kept descriptors): values, rewrites seen, the descriptor budget, closing unread
// cgroups and parse errors. Removal of a real cgroup is covered in tests/e2e.
#include "daemon/cgroup/cpuset_readback.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/fake_cgroup_files.h"

namespace numapin {
namespace {

std::map<std::string, std::string> Cpuset(const std::string& cpus, const std::string& mems) {
  return {{"cpuset.cpus", cpus}, {"cpuset.mems", mems}};
}

TEST(CpusetReadbackFake, ReadsValuesByPath) {
  FakeCgroupFiles files;
  files.AddDir("pod/c1", Cpuset("2-3", "0"));
  CpusetReadback readback(&files, 100);

  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->cpus.ToString(), "2-3");
  EXPECT_EQ(values->mems.ToString(), "0");
  EXPECT_EQ(readback.open_files(), 0u) << "the fake has no descriptors to keep";
}

TEST(CpusetReadbackFake, SeesRewriteBetweenReads) {
  FakeCgroupFiles files;
  files.AddDir("pod/c1", Cpuset("2-3", "0"));
  CpusetReadback readback(&files, 100);
  ASSERT_TRUE(readback.Read("pod/c1").ok());

  ASSERT_TRUE(files.Write("pod/c1", "cpuset.cpus", "1").ok());
  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->cpus.ToString(), "1");
}

TEST(CpusetReadbackFake, MissingCgroupIsNotFound) {
  FakeCgroupFiles files;
  CpusetReadback readback(&files, 100);

  absl::StatusOr<CpusetValues> values = readback.Read("pod/gone");

  EXPECT_TRUE(absl::IsNotFound(values.status())) << values.status();
}

TEST(CpusetReadbackFake, InvalidListNamesFileAndText) {
  FakeCgroupFiles files;
  files.AddDir("pod/c1", Cpuset("2-x", "0"));
  CpusetReadback readback(&files, 100);

  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  EXPECT_EQ(values.status().code(), absl::StatusCode::kInternal) << values.status();
  EXPECT_TRUE(absl::StrContains(values.status().message(), "/fake/pod/c1/cpuset.cpus"))
      << values.status();
  EXPECT_TRUE(absl::StrContains(values.status().message(), "\"2-x\"")) << values.status();
}

TEST(CpusetReadbackFake, ParseErrorIsNotCachedAsValues) {
  FakeCgroupFiles files;
  files.AddDir("pod/c1", Cpuset("2-x", "0"));
  CpusetReadback readback(&files, 100);
  ASSERT_FALSE(readback.Read("pod/c1").ok());

  absl::StatusOr<CpusetValues> again = readback.Read("pod/c1");

  EXPECT_FALSE(again.ok()) << "unchanged invalid text must fail again, not return old values";
}

// Real files in a temporary directory stand in for a cgroup: pread at offset 0 reads a regular
// file's current content as it does a kernfs seq_file's.
class CpusetReadbackRealTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/numapin-readback-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(root_);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  void MakeCgroup(const std::string& dir, const std::string& cpus, const std::string& mems) {
    std::filesystem::create_directories(root_ + "/" + dir);
    Rewrite(dir, "cpuset.cpus", cpus);
    Rewrite(dir, "cpuset.mems", mems);
  }

  // Rewrites in place (truncate, same inode), as a write to a control file changes what the
  // open file reads.
  void Rewrite(const std::string& dir, const std::string& file, const std::string& value) {
    std::ofstream out(root_ + "/" + dir + "/" + file, std::ios::trunc);
    out << value << "\n";
  }

  std::string root_;
  std::unique_ptr<CgroupFiles> files_;
};

TEST_F(CpusetReadbackRealTest, KeepsBothFilesOpen) {
  MakeCgroup("pod/c1", "0-1", "0");
  CpusetReadback readback(files_.get(), 100);

  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->cpus.ToString(), "0-1");
  EXPECT_EQ(values->mems.ToString(), "0");
  EXPECT_EQ(readback.open_files(), 2u);
}

TEST_F(CpusetReadbackRealTest, KeptFileSeesRewrite) {
  MakeCgroup("pod/c1", "0-1", "0");
  CpusetReadback readback(files_.get(), 100);
  ASSERT_TRUE(readback.Read("pod/c1").ok());

  Rewrite("pod/c1", "cpuset.cpus", "1");
  Rewrite("pod/c1", "cpuset.mems", "0-1");
  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->cpus.ToString(), "1");
  EXPECT_EQ(values->mems.ToString(), "0-1");
  EXPECT_EQ(readback.open_files(), 2u) << "the rewrite must be read through the kept files";
}

TEST_F(CpusetReadbackRealTest, ReadsTextLongerThanBuffer) {
  std::string cpus;
  for (int cpu = 0; cpu < 4000; cpu += 2) absl::StrAppend(&cpus, cpu == 0 ? "" : ",", cpu);
  MakeCgroup("pod/c1", cpus, "0");
  CpusetReadback readback(files_.get(), 100);

  absl::StatusOr<CpusetValues> first = readback.Read("pod/c1");
  absl::StatusOr<CpusetValues> second = readback.Read("pod/c1");

  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->cpus.Size(), 2000);
  EXPECT_EQ(second->cpus.Size(), 2000);
}

TEST_F(CpusetReadbackRealTest, BudgetLimitsKeptFiles) {
  MakeCgroup("pod/c1", "0", "0");
  MakeCgroup("pod/c2", "1", "0");
  CpusetReadback readback(files_.get(), 3);

  absl::StatusOr<CpusetValues> first = readback.Read("pod/c1");
  absl::StatusOr<CpusetValues> second = readback.Read("pod/c2");
  Rewrite("pod/c2", "cpuset.mems", "1");
  absl::StatusOr<CpusetValues> again = readback.Read("pod/c2");

  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(readback.open_files(), 3u);
  EXPECT_EQ(second->cpus.ToString(), "1");
  EXPECT_EQ(again->mems.ToString(), "1") << "a file past the budget is read by path";
}

TEST_F(CpusetReadbackRealTest, CloseUnreadClosesOnlyUnread) {
  MakeCgroup("pod/c1", "0", "0");
  MakeCgroup("pod/c2", "1", "0");
  CpusetReadback readback(files_.get(), 100);
  ASSERT_TRUE(readback.Read("pod/c1").ok());
  ASSERT_TRUE(readback.Read("pod/c2").ok());
  readback.CloseUnread();

  ASSERT_TRUE(readback.Read("pod/c1").ok());
  readback.CloseUnread();

  EXPECT_EQ(readback.open_files(), 2u) << "c1 was read since the first call, c2 was not";
}

TEST_F(CpusetReadbackRealTest, MissingFileIsNotFoundAndKeepsNothing) {
  MakeCgroup("pod/c1", "0", "0");
  std::filesystem::remove(root_ + "/pod/c1/cpuset.mems");
  CpusetReadback readback(files_.get(), 100);

  absl::StatusOr<CpusetValues> values = readback.Read("pod/c1");

  EXPECT_TRUE(absl::IsNotFound(values.status())) << values.status();
  EXPECT_EQ(readback.open_files(), 0u);
}

}  // namespace
}  // namespace numapin
