// Tests of the manifest directory pod source: first list, inotify-driven re-reads, ignored
// editor files, malformed manifests reported by file, and directory errors.
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/pod_source.h"
#include "daemon/podsource/dir_source.h"

namespace numapin {
namespace {

// A Guaranteed pod in `kubectl get pod -o yaml` form.
std::string PodYaml(const std::string& name, const std::string& cpu) {
  return absl::StrCat("apiVersion: v1\n", "kind: Pod\n", "metadata:\n", "  name: ", name, "\n",
                      "  namespace: default\n", "  uid: uid-", name, "\n", "spec:\n",
                      "  containers:\n", "  - name: app\n", "    image: registry.example/app:1.0\n",
                      "    resources:\n", "      limits: {cpu: \"", cpu, "\", memory: 1Gi}\n",
                      "      requests: {cpu: \"", cpu, "\", memory: 1Gi}\n", "status:\n",
                      "  phase: Running\n");
}

class DirPodSourceTest : public testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/numapin-dir-source-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  std::unique_ptr<PodSource> Make() {
    PodSourceOptions options;
    options.spec = "dir:" + dir_;
    absl::StatusOr<std::unique_ptr<PodSource>> source = MakePodSource(options);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? std::move(*source) : nullptr;
  }

  bool Readable(PodSource& source, int timeout_ms) {
    pollfd fd{source.fd(), POLLIN, 0};
    return poll(&fd, 1, timeout_ms) == 1;
  }

  // The next full list: waits up to 2 s for the fd, then reads.
  std::vector<Pod> NextList(PodSource& source) {
    errors_.clear();
    EXPECT_TRUE(Readable(source, 2000)) << "no inotify event";
    auto result = source.Read(&errors_);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok() || !result->has_value()) return {};
    return **result;
  }

  std::string dir_;
  std::vector<absl::Status> errors_;
};

TEST_F(DirPodSourceTest, FirstReadListsDirectory) {
  Write("a.yaml", PodYaml("alpha", "2"));
  Write("b.yaml", PodYaml("beta", "1"));
  auto source = Make();
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->name(), "dir");
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 2u);
  EXPECT_EQ(pods[0].name, "alpha");
  EXPECT_EQ(pods[1].name, "beta");
  EXPECT_TRUE(errors_.empty());
}

TEST_F(DirPodSourceTest, ReadWithoutEventsIsNothingNew) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  NextList(*source);
  auto again = source->Read(&errors_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(Readable(*source, 0));
}

TEST_F(DirPodSourceTest, NewFileTriggersReread) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(NextList(*source).empty());
  Write("new.yaml", PodYaml("gamma", "4"));
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, "gamma");
}

TEST_F(DirPodSourceTest, RenamedInFileCounts) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  NextList(*source);
  // The write-then-rename that kubectl-driven scripts and editors do.
  Write(".pod.yaml.partial", PodYaml("delta", "2"));
  std::filesystem::rename(dir_ + "/.pod.yaml.partial", dir_ + "/pod.yaml");
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, "delta");
}

TEST_F(DirPodSourceTest, DeletedFileDropsPod) {
  Write("a.yaml", PodYaml("alpha", "2"));
  Write("b.yaml", PodYaml("beta", "2"));
  auto source = Make();
  ASSERT_NE(source, nullptr);
  ASSERT_EQ(NextList(*source).size(), 2u);
  std::filesystem::remove(dir_ + "/a.yaml");
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, "beta");
}

TEST_F(DirPodSourceTest, EditorFilesAreIgnored) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  NextList(*source);
  Write(".hidden.yaml", PodYaml("hidden", "2"));
  Write("pod.yaml~", PodYaml("backup", "2"));
  Write(".pod.yaml.swp", "binary swap");
  Write("4913", "");
  // The inotify fd wakes the loop, but Read() finds only ignored names and re-reads nothing.
  ASSERT_TRUE(Readable(*source, 2000));
  auto ignored = source->Read(&errors_);
  ASSERT_TRUE(ignored.ok()) << ignored.status();
  EXPECT_FALSE(ignored->has_value()) << "an ignored file caused a re-read";
  Write("real.yaml", PodYaml("real", "2"));
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, "real");
  EXPECT_TRUE(errors_.empty());
}

TEST_F(DirPodSourceTest, MalformedFileIsReportedOthersCount) {
  Write("good.yaml", PodYaml("good", "2"));
  Write("bad.yaml", "kind: Pod\nmetadata: [this is: not, a: pod\n");
  auto source = Make();
  ASSERT_NE(source, nullptr);
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].name, "good");
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_TRUE(absl::StrContains(errors_[0].message(), dir_ + "/bad.yaml")) << errors_[0];
}

// Dropping a pod whose manifest became unreadable would read as its deletion and hand its
// exclusive CPUs to other pods while its containers still run on them.
TEST_F(DirPodSourceTest, RewrittenGarbageKeepsLastValidPod) {
  Write("web.yaml", PodYaml("web", "2"));
  auto source = Make();
  ASSERT_NE(source, nullptr);
  ASSERT_EQ(NextList(*source).size(), 1u);

  Write("web.yaml", "garbage: [\n");
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u) << "the pod was dropped";
  EXPECT_EQ(pods[0].name, "web");
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_TRUE(absl::StrContains(errors_[0].message(), "keeping its last valid version"))
      << errors_[0];

  ASSERT_EQ(unlink((dir_ + "/web.yaml").c_str()), 0);
  EXPECT_TRUE(NextList(*source).empty()) << "deleting the file still deletes the pod";
}

TEST_F(DirPodSourceTest, JsonManifestParses) {
  Write("pod.json", R"({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "json-pod", "namespace": "ns", "uid": "11111111-2222-4333-8444-555555555555"},
    "spec": {"containers": [{"name": "app", "image": "x"}]}})");
  auto source = Make();
  ASSERT_NE(source, nullptr);
  std::vector<Pod> pods = NextList(*source);
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(pods[0].Key(), "ns/json-pod");
}

TEST_F(DirPodSourceTest, DuplicatePodIsReported) {
  Write("a.yaml", PodYaml("same", "2"));
  Write("b.yaml", PodYaml("same", "2"));
  auto source = Make();
  ASSERT_NE(source, nullptr);
  std::vector<Pod> pods = NextList(*source);
  EXPECT_EQ(pods.size(), 1u);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_TRUE(absl::StrContains(errors_[0].message(), "b.yaml")) << errors_[0];
  EXPECT_TRUE(absl::StrContains(errors_[0].message(), "a.yaml")) << errors_[0];
}

TEST_F(DirPodSourceTest, RequestRefreshRereads) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  NextList(*source);
  source->RequestRefresh();
  EXPECT_TRUE(Readable(*source, 0));
  auto result = source->Read(&errors_);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->has_value());
}

TEST_F(DirPodSourceTest, RemovedDirectoryIsError) {
  auto source = Make();
  ASSERT_NE(source, nullptr);
  NextList(*source);
  std::filesystem::remove_all(dir_);
  ASSERT_TRUE(Readable(*source, 2000));
  auto result = source->Read(&errors_);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(absl::StrContains(result.status().message(), dir_)) << result.status();

  // Once the directory is back, a refresh recovers and renews the watch.
  std::filesystem::create_directory(dir_);
  source->RequestRefresh();
  EXPECT_TRUE(NextList(*source).empty());
  Write("back.yaml", PodYaml("back", "2"));
  EXPECT_EQ(NextList(*source).size(), 1u);
}

TEST(DirPodSource, MissingDirectoryIsClearError) {
  PodSourceOptions options;
  options.spec = "dir:/nonexistent/numapin-manifests";
  auto source = MakePodSource(options);
  ASSERT_FALSE(source.ok());
  EXPECT_TRUE(absl::StrContains(source.status().message(), "/nonexistent/numapin-manifests"))
      << source.status();
  EXPECT_TRUE(absl::StrContains(source.status().message(), "--pod-source")) << source.status();
}

TEST(IsIgnoredManifestName, Cases) {
  EXPECT_TRUE(IsIgnoredManifestName(".pod.yaml"));
  EXPECT_TRUE(IsIgnoredManifestName("pod.yaml~"));
  EXPECT_TRUE(IsIgnoredManifestName("#pod.yaml#"));
  EXPECT_TRUE(IsIgnoredManifestName("pod.yaml.swp"));
  EXPECT_TRUE(IsIgnoredManifestName("pod.yaml.tmp"));
  EXPECT_TRUE(IsIgnoredManifestName("4913"));
  EXPECT_FALSE(IsIgnoredManifestName("pod.yaml"));
  EXPECT_FALSE(IsIgnoredManifestName("pod.json"));
  EXPECT_FALSE(IsIgnoredManifestName("pod"));
}

}  // namespace
}  // namespace numapin
