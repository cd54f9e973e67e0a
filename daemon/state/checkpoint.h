// CheckpointStore: the exclusive CPU assignments saved under --state-dir, written atomically so
// that a daemon killed at any moment finds either the old or the new file, never a mix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/allocator.h"
#include "policy/cpuset.h"

namespace numapin {

inline constexpr uint32_t kCheckpointVersion = 1;
inline constexpr char kCheckpointFileName[] = "checkpoint.pb";

struct CheckpointEntry {
  AssignmentRecord record;
  std::string container_id;  // Without the runtime prefix; empty when not known yet.
};

struct CheckpointData {
  std::vector<CheckpointEntry> entries;
  std::string topology_source;
  CpuSet assignable_cpus;
  uint64_t generation = 0;
  absl::Time written = absl::InfinitePast();
};

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string path() const { return dir_ + "/" + kCheckpointFileName; }

  // Reads and checks the file. NotFound when there is none; DataLoss when it is truncated, its
  // checksum or version does not match, or a CPU list in it does not parse.
  absl::StatusOr<CheckpointData> Load() const;

  // Replaces the file: writes a temporary file in the same directory, fsyncs it, renames it over
  // the old one and fsyncs the directory. Creates the directory when missing.
  absl::Status Save(const CheckpointData& data) const;

  // Creates the directory when missing and writes and removes a probe file in it, so that a
  // state directory that cannot hold a checkpoint fails start-up instead of every later save.
  absl::Status CheckWritable() const;

  // Renames a bad file to checkpoint.pb.corrupt-<unix seconds> and returns the new path, so
  // that it stays for forensics and the next start does not trip over it.
  absl::StatusOr<std::string> MoveAside(absl::Time now) const;

 private:
  std::string dir_;
};

// Serialization without the file system, for tests and fuzzing.
std::string EncodeCheckpoint(const CheckpointData& data);
absl::StatusOr<CheckpointData> DecodeCheckpoint(const std::string& bytes);

}  // namespace numapin
