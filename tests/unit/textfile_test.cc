// Tests of TextfileWriter: the file's content, atomic replace, no leftovers and rate limiting.
#include "daemon/metrics/textfile.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/metrics/render.h"
#include "tests/fakes/snapshot_fixture.h"

namespace numapin {
namespace {

class TextfileWriterTest : public testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/numapin-textfile-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
};

TEST_F(TextfileWriterTest, WritesRenderedMetrics) {
  TextfileWriter writer(dir_);
  const DaemonSnapshot snapshot = MakeTestSnapshot();
  ASSERT_TRUE(writer.Write(snapshot).ok());
  EXPECT_EQ(writer.path(), dir_ + "/numapin.prom");
  EXPECT_EQ(ReadFile(writer.path()), RenderMetrics(snapshot));
}

TEST_F(TextfileWriterTest, LeavesOnlyTheProm) {
  TextfileWriter writer(dir_);
  ASSERT_TRUE(writer.Write(MakeTestSnapshot()).ok());
  ASSERT_TRUE(writer.Write(MakeTestSnapshot()).ok());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), "numapin.prom");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(TextfileWriterTest, FileIsWorldReadable) {
  TextfileWriter writer(dir_);
  ASSERT_TRUE(writer.Write(MakeTestSnapshot()).ok());
  struct stat st;
  ASSERT_EQ(stat(writer.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(TextfileWriterTest, ReplacesPreviousContent) {
  TextfileWriter writer(dir_);
  DaemonSnapshot snapshot = MakeTestSnapshot();
  ASSERT_TRUE(writer.Write(snapshot).ok());
  snapshot.node_name = "worker-2";
  ASSERT_TRUE(writer.Write(snapshot).ok());
  EXPECT_EQ(ReadFile(writer.path()), RenderMetrics(snapshot));
}

TEST_F(TextfileWriterTest, MaybeWriteIsRateLimited) {
  TextfileWriter writer(dir_, absl::Seconds(1));
  DaemonSnapshot snapshot = MakeTestSnapshot();
  const absl::Time start = absl::FromUnixSeconds(1000);

  absl::StatusOr<bool> first = writer.MaybeWrite(snapshot, start);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);

  snapshot.node_name = "worker-2";
  absl::StatusOr<bool> soon = writer.MaybeWrite(snapshot, start + absl::Milliseconds(400));
  ASSERT_TRUE(soon.ok());
  EXPECT_FALSE(*soon);
  EXPECT_EQ(ReadFile(writer.path()).find("worker-2"), std::string::npos);

  absl::StatusOr<bool> later = writer.MaybeWrite(snapshot, start + absl::Seconds(1));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(*later);
  EXPECT_EQ(ReadFile(writer.path()), RenderMetrics(snapshot));
}

TEST_F(TextfileWriterTest, MissingDirectoryIsClearError) {
  TextfileWriter writer(dir_ + "/absent");
  absl::Status status = writer.Write(MakeTestSnapshot());
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find(dir_ + "/absent"), std::string::npos)
      << status.message();
  EXPECT_NE(std::string(status.message()).find("--textfile-dir"), std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace numapin
