// CheckpointStore: round trip, atomic replacement, and rejection of torn or edited files.
#include "daemon/state/checkpoint.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/state/crc32c.h"

namespace numapin {
namespace {

class CheckpointTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/numapin-checkpoint-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static CheckpointData Sample() {
    CheckpointData data;
    data.topology_source = "synthetic:numa:2 core:2 pu:1";
    data.assignable_cpus = CpuSet::Range(0, 3);
    data.generation = 7;
    CheckpointEntry entry;
    entry.record.pod_uid = "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b";
    entry.record.pod_key = "default/web";
    entry.record.container = "app";
    entry.record.assignment = Assignment{CpuSet{2, 3}, CpuSet{1}, CpuSet{1}};
    entry.container_id = "abc123";
    data.entries.push_back(entry);
    return data;
  }

  void WriteRaw(const std::string& bytes) {
    std::ofstream out(dir_ + "/" + kCheckpointFileName, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::string dir_;
};

TEST(Crc32c, MatchesKnownCheckValue) {
  // The standard check value of CRC-32C over "123456789".
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST_F(CheckpointTest, SaveThenLoadRoundTrips) {
  CheckpointStore store(dir_);
  ASSERT_TRUE(store.Save(Sample()).ok());
  absl::StatusOr<CheckpointData> loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->entries.size(), 1u);
  const CheckpointEntry& entry = loaded->entries[0];
  EXPECT_EQ(entry.record.pod_uid, "0b7f1a2e-9c3d-4e5f-8a6b-1c2d3e4f5a6b");
  EXPECT_EQ(entry.record.pod_key, "default/web");
  EXPECT_EQ(entry.record.container, "app");
  EXPECT_EQ(entry.record.assignment.cpus.ToString(), "2-3");
  EXPECT_EQ(entry.record.assignment.numa_nodes.ToString(), "1");
  EXPECT_EQ(entry.record.assignment.mems.ToString(), "1");
  EXPECT_EQ(entry.container_id, "abc123");
  EXPECT_EQ(loaded->generation, 7u);
  EXPECT_EQ(loaded->assignable_cpus.ToString(), "0-3");
}

TEST_F(CheckpointTest, CheckWritableRejectsFileAsDirectory) {
  const std::string file = dir_ + "/plain-file";
  std::ofstream(file) << "x";
  absl::Status status = CheckpointStore(file).CheckWritable();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(file), std::string::npos) << status;
  EXPECT_TRUE(CheckpointStore(dir_ + "/new").CheckWritable().ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/new"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/new")) << "the probe file was left behind";
}

TEST_F(CheckpointTest, SaveLeavesNoTemporaryFile) {
  CheckpointStore store(dir_);
  ASSERT_TRUE(store.Save(Sample()).ok());
  ASSERT_TRUE(store.Save(Sample()).ok());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), kCheckpointFileName);
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(CheckpointTest, MissingFileIsNotFound) {
  absl::StatusOr<CheckpointData> loaded = CheckpointStore(dir_).Load();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, TruncatedFileIsDataLoss) {
  std::string bytes = EncodeCheckpoint(Sample());
  for (size_t length : {size_t{0}, size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    WriteRaw(bytes.substr(0, length));
    absl::StatusOr<CheckpointData> loaded = CheckpointStore(dir_).Load();
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << "length " << length;
  }
}

TEST_F(CheckpointTest, FlippedPayloadByteIsChecksumMismatch) {
  std::string bytes = EncodeCheckpoint(Sample());
  // The CPU list "2-3" sits inside the payload; editing it keeps the protobuf framing valid.
  size_t at = bytes.find("2-3");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '0';
  WriteRaw(bytes);
  absl::StatusOr<CheckpointData> loaded = CheckpointStore(dir_).Load();
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find("checksum"), absl::string_view::npos) << loaded.status();
}

TEST_F(CheckpointTest, MoveAsideKeepsBadFile) {
  WriteRaw("garbage");
  CheckpointStore store(dir_);
  absl::StatusOr<std::string> aside = store.MoveAside(absl::FromUnixSeconds(1700000000));
  ASSERT_TRUE(aside.ok()) << aside.status();
  EXPECT_EQ(*aside, dir_ + "/checkpoint.pb.corrupt-1700000000");
  EXPECT_TRUE(std::filesystem::exists(*aside));
  EXPECT_EQ(store.Load().status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace numapin
