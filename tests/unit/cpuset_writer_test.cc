// CpusetWriter: write order under cgroup v1's parent-covers-child rule, mems, and CFS quota.
#include "daemon/cgroup/cpuset_writer.h"

#include <gtest/gtest.h>

#include "tests/unit/fake_cgroup_files.h"

namespace numapin {
namespace {

std::map<std::string, std::string> Cpuset(const std::string& cpus, const std::string& mems) {
  return {{"cpuset.cpus", cpus}, {"cpuset.mems", mems}};
}

TEST(CpusetWriterApply, WidensParentsBeforeChildren) {
  FakeCgroupFiles files;
  files.AddDir("", Cpuset("0-3", "0"));
  files.AddDir("kubepods", Cpuset("0-1", "0"));
  files.AddDir("kubepods/pod1", Cpuset("0-1", "0"));
  files.AddDir("kubepods/pod1/c1", Cpuset("0-1", "0"));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0});

  std::vector<CpusetWriteResult> results =
      writer.Apply({{"kubepods", CpuSet::Range(0, 3), std::nullopt},
                    {"kubepods/pod1", CpuSet::Range(0, 3), std::nullopt}},
                   {{"kubepods/pod1/c1", CpuSet{2, 3}, CpuSet{0}}});

  ASSERT_EQ(results.size(), 3u);
  for (const CpusetWriteResult& result : results) {
    EXPECT_TRUE(result.status.ok()) << result.dir << ": " << result.status;
  }
  EXPECT_EQ(files.Get("kubepods/pod1/c1", "cpuset.cpus"), "2-3");
  EXPECT_EQ(files.Get("kubepods/pod1", "cpuset.cpus"), "0-3");
  EXPECT_EQ(files.Get("kubepods", "cpuset.cpus"), "0-3");
  EXPECT_EQ(results[2].found.cpus.ToString(), "0-1") << "found must be the value before writing";
  EXPECT_TRUE(results[2].cpus_written);
}

TEST(CpusetWriterApply, NarrowsChildrenBeforeParents) {
  FakeCgroupFiles files;
  files.AddDir("", Cpuset("0-3", "0"));
  files.AddDir("kubepods", Cpuset("0-3", "0"));
  files.AddDir("kubepods/pod1", Cpuset("0-3", "0"));
  files.AddDir("kubepods/pod1/c1", Cpuset("0-3", "0"));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0});

  std::vector<CpusetWriteResult> results =
      writer.Apply({{"kubepods/pod1", CpuSet{1}, std::nullopt}},
                   {{"kubepods/pod1/c1", CpuSet{1}, std::nullopt}});

  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_TRUE(results[1].status.ok()) << results[1].status;
  EXPECT_EQ(files.Get("kubepods/pod1/c1", "cpuset.cpus"), "1");
  EXPECT_EQ(files.Get("kubepods/pod1", "cpuset.cpus"), "1");
}

TEST(CpusetWriterApply, LeavesMatchingCgroupUntouched) {
  FakeCgroupFiles files;
  files.AddDir("kubepods", Cpuset("0-3", "0"));
  files.AddDir("kubepods/c1", Cpuset("2", "0"));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0});

  std::vector<CpusetWriteResult> results =
      writer.Apply({{"kubepods", CpuSet::Range(0, 3), std::nullopt}},
                   {{"kubepods/c1", CpuSet{2}, std::nullopt}});

  EXPECT_TRUE(files.writes().empty()) << files.writes().front();
  EXPECT_FALSE(results[1].cpus_written);
}

TEST(CpusetWriterApply, FillsEmptyV1MemsFromParent) {
  FakeCgroupFiles files;
  files.AddDir("kubepods", Cpuset("0-3", "1"));
  files.AddDir("kubepods/c1", Cpuset("", ""));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0, 1});

  writer.Apply({}, {{"kubepods/c1", CpuSet{3}, std::nullopt}});

  EXPECT_EQ(files.Get("kubepods/c1", "cpuset.cpus"), "3");
  EXPECT_EQ(files.Get("kubepods/c1", "cpuset.mems"), "1") << "the parent's, not all nodes";
}

TEST(CpusetWriterApply, WritesManagedMems) {
  FakeCgroupFiles files;
  files.AddDir("kubepods", Cpuset("0-3", "0-1"));
  files.AddDir("kubepods/c1", Cpuset("0-3", "0-1"));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0, 1});

  std::vector<CpusetWriteResult> results =
      writer.Apply({}, {{"kubepods/c1", CpuSet{3}, CpuSet{1}}});

  EXPECT_EQ(files.Get("kubepods/c1", "cpuset.mems"), "1");
  EXPECT_TRUE(results[0].mems_written);
}

TEST(CpusetWriterApply, ReportsMissingCgroupAndContinues) {
  FakeCgroupFiles files;
  files.AddDir("kubepods", Cpuset("0-3", "0"));
  files.AddDir("kubepods/c2", Cpuset("0-3", "0"));
  CpusetWriter writer(&files, CgroupVersion::kV1, CpuSet{0});

  std::vector<CpusetWriteResult> results = writer.Apply(
      {}, {{"kubepods/gone", CpuSet{1}, std::nullopt}, {"kubepods/c2", CpuSet{1}, std::nullopt}});

  EXPECT_EQ(results[0].status.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(results[0].read_ok);
  EXPECT_TRUE(results[1].status.ok());
  EXPECT_EQ(files.Get("kubepods/c2", "cpuset.cpus"), "1");
}

TEST(CpusetWriterApply, EnablesCpusetControllerOnV2) {
  FakeCgroupFiles files;
  files.enforce_v1 = false;
  files.AddDir("kubepods", {{"cpuset.cpus", ""},
                            {"cpuset.mems", ""},
                            {"cgroup.subtree_control", "cpu memory"}});
  files.AddDir("kubepods/c1", Cpuset("", ""));
  CpusetWriter writer(&files, CgroupVersion::kV2, CpuSet{0});

  writer.Apply({{"kubepods", CpuSet::Range(0, 3), std::nullopt}},
               {{"kubepods/c1", CpuSet{2}, std::nullopt}});

  EXPECT_EQ(files.Get("kubepods", "cgroup.subtree_control"), "cpu memory cpuset");
  EXPECT_EQ(files.Get("kubepods/c1", "cpuset.cpus"), "2");
  EXPECT_EQ(files.Get("kubepods/c1", "cpuset.mems"), "") << "v2 mems stay inherited";
}

TEST(CpusetWriterLiftCfsQuota, WritesMaxKeepingPeriodOnV2) {
  FakeCgroupFiles files;
  files.AddDir("pod", {{"cpu.max", "200000 100000"}});
  absl::StatusOr<bool> changed = CpusetWriter::LiftCfsQuota(&files, CgroupVersion::kV2, "pod");
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(files.Get("pod", "cpu.max"), "max 100000");
  changed = CpusetWriter::LiftCfsQuota(&files, CgroupVersion::kV2, "pod");
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

TEST(CpusetWriterLiftCfsQuota, WritesMinusOneOnV1) {
  FakeCgroupFiles files;
  files.AddDir("pod", {{"cpu.cfs_quota_us", "200000"}});
  absl::StatusOr<bool> changed = CpusetWriter::LiftCfsQuota(&files, CgroupVersion::kV1, "pod");
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(files.Get("pod", "cpu.cfs_quota_us"), "-1");
}

}  // namespace
}  // namespace numapin
