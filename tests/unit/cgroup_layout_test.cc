// Cgroup layout: mountinfo parsing, v1/v2 and driver detection, naming, and the checks that keep
// pod uids and container ids inside the cgroup root.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/layout.h"

namespace numapin {
namespace {

class CgroupLayoutTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/numapin-layout-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A hybrid machine's mountinfo with the hierarchies mounted under dir_.
  std::string HybridMountInfo() const {
    return absl::StrCat("31 23 0:28 / ", dir_, " rw - tmpfs tmpfs rw,mode=755\n", "32 31 0:29 / ",
                        dir_, "/cpu rw - cgroup cgroup rw,cpu\n", "34 31 0:31 / ", dir_,
                        "/cpuset rw - cgroup cgroup rw,cpuset\n", "41 31 0:38 / ", dir_,
                        "/unified rw - cgroup2 cgroup2 rw\n");
  }

  void MakeDirs(const std::string& relative) {
    std::filesystem::create_directories(absl::StrCat(dir_, "/", relative));
  }

  std::string dir_;
};

TEST(MountInfoParse, ReadsFieldsAfterSeparator) {
  std::vector<MountInfoEntry> mounts = ParseMountInfo(
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime shared:5 - cgroup cgroup rw,cpuset\n"
      "50 31 0:40 /x /mnt/with\\040space rw - ext4 /dev/sda1 rw\n");
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpuset");
  EXPECT_EQ(mounts[0].fs_type, "cgroup");
  ASSERT_EQ(mounts[0].super_options.size(), 2u);
  EXPECT_EQ(mounts[0].super_options[1], "cpuset");
  EXPECT_EQ(mounts[1].mount_point, "/mnt/with space");
  EXPECT_EQ(mounts[1].root, "/x");
}

TEST_F(CgroupLayoutTest, HybridParentPicksV1Cpuset) {
  MakeDirs("cpuset/kubepods/burstable");
  MakeDirs("cpu/kubepods");
  MakeDirs("unified");
  absl::StatusOr<CgroupLayout> layout = DetectLayout(dir_, HybridMountInfo());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->version, CgroupVersion::kV1);
  EXPECT_EQ(layout->driver, CgroupDriver::kCgroupfs);
  EXPECT_EQ(layout->cpuset_root, dir_ + "/cpuset");
  EXPECT_EQ(layout->cpu_root, dir_ + "/cpu");
  EXPECT_EQ(layout->kubepods, "kubepods");
}

TEST_F(CgroupLayoutTest, RootInsideV1HierarchyIsV1) {
  MakeDirs("cpuset/numapin-test-1/kubepods.slice");
  absl::StatusOr<CgroupLayout> layout =
      DetectLayout(dir_ + "/cpuset/numapin-test-1", HybridMountInfo());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->version, CgroupVersion::kV1);
  EXPECT_EQ(layout->driver, CgroupDriver::kSystemd);
  EXPECT_EQ(layout->cpuset_root, dir_ + "/cpuset/numapin-test-1");
  EXPECT_EQ(layout->cpu_root, "") << "no cpu hierarchy directory of that name exists";
}

TEST_F(CgroupLayoutTest, UnifiedRootIsV2WithCpuset) {
  MakeDirs("kubepods");
  std::ofstream(dir_ + "/cgroup.controllers") << "cpuset cpu io memory pids\n";
  absl::StatusOr<CgroupLayout> layout =
      DetectLayout(dir_, absl::StrCat("41 1 0:38 / ", dir_, " rw - cgroup2 cgroup2 rw\n"));
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->version, CgroupVersion::kV2);
  EXPECT_EQ(layout->cpu_root, dir_);
}

TEST_F(CgroupLayoutTest, V2WithoutCpusetControllerIsRejected) {
  MakeDirs("unified/kubepods");
  std::ofstream(dir_ + "/unified/cgroup.controllers") << "cpu memory\n";
  absl::StatusOr<CgroupLayout> layout = DetectLayout(dir_ + "/unified", HybridMountInfo());
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CgroupLayoutTest, MissingKubepodsIsFailedPrecondition) {
  MakeDirs("cpuset");
  absl::StatusOr<CgroupLayout> layout = DetectLayout(dir_, HybridMountInfo());
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.status().message().find("kubepods"), absl::string_view::npos);
}

TEST(PodUidValidate, AcceptsRfc4122AndStaticPodHash) {
  EXPECT_TRUE(ValidatePodUid("0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b").ok());
  EXPECT_TRUE(ValidatePodUid("6d6cfbb4e6c1a0b0f0e33ef0a2ab5b2c").ok());
}

TEST(PodUidValidate, RejectsPathTraversalNamingIt) {
  for (const char* uid : {"../../x", "a/b", ".", "abc_def", "x y"}) {
    absl::Status status = ValidatePodUid(uid);
    ASSERT_FALSE(status.ok()) << uid;
    EXPECT_NE(status.message().find(uid), absl::string_view::npos) << status;
  }
}

TEST(PodUidValidate, EmptySaysMissing) {
  absl::Status status = ValidatePodUid("");

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("pod uid is missing"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("metadata.uid"), absl::string_view::npos) << status;
}

TEST(PodUidValidate, TooLongNamesTheLimit) {
  absl::Status status = ValidatePodUid(std::string(65, 'f'));

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("expected 1 to 64 hex digits"), absl::string_view::npos)
      << status;
}

TEST(ContainerIdParse, TooLongNamesTheLimit) {
  absl::StatusOr<ContainerId> id = ParseContainerId("containerd://" + std::string(129, 'a'));

  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("expected 1 to 128 letters"), absl::string_view::npos)
      << id.status();
}

TEST(ContainerIdParse, SplitsRuntimeAndId) {
  absl::StatusOr<ContainerId> id = ParseContainerId("containerd://4f2a9c");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->runtime, "containerd");
  EXPECT_EQ(id->id, "4f2a9c");
  EXPECT_FALSE(ParseContainerId("containerd://../x").ok());
  EXPECT_FALSE(ParseContainerId("cri-o://").ok());
  EXPECT_FALSE(ParseContainerId("docker://a/b").ok());
}

TEST(PodCgroupCandidates, CgroupfsOwnQosFirst) {
  CgroupLayout layout;
  layout.driver = CgroupDriver::kCgroupfs;
  std::vector<std::string> paths = PodCgroupCandidates(layout, "ab-12", QosClass::kBurstable);
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], "kubepods/burstable/podab-12");
  EXPECT_EQ(paths[1], "kubepods/podab-12");
  EXPECT_EQ(paths[2], "kubepods/besteffort/podab-12");
}

TEST(PodCgroupCandidates, SystemdEscapesDashes) {
  CgroupLayout layout;
  layout.driver = CgroupDriver::kSystemd;
  std::vector<std::string> paths = PodCgroupCandidates(layout, "ab-12", QosClass::kGuaranteed);
  EXPECT_EQ(paths[0], "kubepods.slice/kubepods-podab_12.slice");
  EXPECT_EQ(paths[1], "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podab_12.slice");
}

TEST(ContainerCgroupCandidates, SystemdScopesByRuntime) {
  CgroupLayout layout;
  layout.driver = CgroupDriver::kSystemd;
  EXPECT_EQ(ContainerCgroupCandidates(layout, {"containerd", "ab"})[0], "cri-containerd-ab.scope");
  EXPECT_EQ(ContainerCgroupCandidates(layout, {"cri-o", "ab"})[0], "crio-ab.scope");
  EXPECT_EQ(ContainerCgroupCandidates(layout, {"docker", "ab"})[0], "docker-ab.scope");
}

TEST(PodUidFromDirName, ParsesBothDrivers) {
  EXPECT_EQ(PodUidFromDirName("podab-12").value_or(""), "ab-12");
  EXPECT_EQ(PodUidFromDirName("kubepods-burstable-podab_12.slice").value_or(""), "ab-12");
  EXPECT_EQ(PodUidFromDirName("kubepods-podab_12.slice").value_or(""), "ab-12");
  EXPECT_FALSE(PodUidFromDirName("burstable").has_value());
  EXPECT_FALSE(PodUidFromDirName("kubepods-burstable.slice").has_value());
}

TEST(RelativePathValidate, RejectsEscapes) {
  EXPECT_TRUE(ValidateRelativePath("kubepods/pod1/abc").ok());
  for (const char* path : {"/etc", "../x", "a/../../b", "a//b", "./a", ""}) {
    EXPECT_FALSE(ValidateRelativePath(path).ok()) << path;
  }
}

TEST_F(CgroupLayoutTest, CgroupFilesRefusesPathsOutsideRoot) {
  MakeDirs("root/kubepods");
  std::ofstream(dir_ + "/secret") << "x";
  absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(dir_ + "/root");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ((*files)->Read("..", "secret").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*files)->Write("kubepods/../..", "secret", "y").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE((*files)->IsDirectory(".."));
  EXPECT_TRUE((*files)->IsDirectory("kubepods"));
}

}  // namespace
}  // namespace numapin
