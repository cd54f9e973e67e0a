// Checkpoint encoding (an Envelope around a State message, see proto/checkpoint.proto) and the
// atomic write: temporary file, fsync, rename, fsync of the directory.
#include "daemon/state/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "daemon/state/crc32c.h"
#include "proto/checkpoint.pb.h"

namespace numapin {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  int saved = errno;
  return absl::InternalError(absl::StrCat(what, " ", path, " failed: ", std::strerror(saved)));
}

absl::StatusOr<CpuSet> ParseField(const std::string& text, absl::string_view field, int index) {
  absl::StatusOr<CpuSet> set = CpuSet::Parse(text);
  if (!set.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint assignment ", index, " has an invalid ",
                                            field, " list \"", text,
                                            "\": ", set.status().message()));
  }
  return set;
}

absl::StatusOr<CheckpointEntry> DecodeEntry(const checkpoint::Assignment& in, int index) {
  CheckpointEntry entry;
  entry.record.pod_uid = in.pod_uid();
  entry.record.pod_key = in.pod_key();
  entry.record.container = in.container();
  entry.record.init = in.init();
  entry.container_id = in.container_id();
  absl::StatusOr<CpuSet> cpus = ParseField(in.cpus(), "cpus", index);
  if (!cpus.ok()) return cpus.status();
  absl::StatusOr<CpuSet> mems = ParseField(in.mems(), "mems", index);
  if (!mems.ok()) return mems.status();
  absl::StatusOr<CpuSet> nodes = ParseField(in.numa_nodes(), "numa_nodes", index);
  if (!nodes.ok()) return nodes.status();
  if (entry.record.pod_uid.empty() || entry.record.container.empty() || cpus->Empty()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint assignment ", index, " lacks a pod uid, container name or CPUs"));
  }
  entry.record.assignment = Assignment{*cpus, *nodes, *mems};
  return entry;
}

absl::Status FsyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening directory", dir);
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return ErrnoError("fsync of directory", dir);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("writing", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCheckpoint(const CheckpointData& data) {
  checkpoint::State state;
  for (const CheckpointEntry& entry : data.entries) {
    checkpoint::Assignment* out = state.add_assignments();
    out->set_pod_uid(entry.record.pod_uid);
    out->set_pod_key(entry.record.pod_key);
    out->set_container(entry.record.container);
    out->set_init(entry.record.init);
    out->set_cpus(entry.record.assignment.cpus.ToString());
    out->set_mems(entry.record.assignment.mems.ToString());
    out->set_numa_nodes(entry.record.assignment.numa_nodes.ToString());
    out->set_container_id(entry.container_id);
  }
  state.set_topology_source(data.topology_source);
  state.set_assignable_cpus(data.assignable_cpus.ToString());
  state.set_generation(data.generation);
  state.set_written_unix_nanos(absl::ToUnixNanos(data.written));

  checkpoint::Envelope envelope;
  envelope.set_version(kCheckpointVersion);
  envelope.set_payload(state.SerializeAsString());
  envelope.set_crc32c(Crc32c(envelope.payload()));
  return envelope.SerializeAsString();
}

absl::StatusOr<CheckpointData> DecodeCheckpoint(const std::string& bytes) {
  checkpoint::Envelope envelope;
  if (bytes.empty() || !envelope.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint of ", bytes.size(), " bytes is not a valid envelope"));
  }
  if (envelope.version() != kCheckpointVersion) {
    return absl::DataLossError(absl::StrCat("checkpoint version ", envelope.version(),
                                            " is not supported; expected ", kCheckpointVersion));
  }
  uint32_t crc = Crc32c(envelope.payload());
  if (crc != envelope.crc32c()) {
    return absl::DataLossError(absl::StrCat("checkpoint checksum mismatch: stored ",
                                            envelope.crc32c(), ", computed ", crc));
  }
  checkpoint::State state;
  if (!state.ParseFromString(envelope.payload())) {
    return absl::DataLossError("checkpoint payload is not a valid State message");
  }

  CheckpointData data;
  data.topology_source = state.topology_source();
  data.generation = state.generation();
  data.written = absl::FromUnixNanos(state.written_unix_nanos());
  absl::StatusOr<CpuSet> assignable = ParseField(state.assignable_cpus(), "assignable_cpus", -1);
  if (!assignable.ok()) return assignable.status();
  data.assignable_cpus = *assignable;
  for (int i = 0; i < state.assignments_size(); ++i) {
    absl::StatusOr<CheckpointEntry> entry = DecodeEntry(state.assignments(i), i);
    if (!entry.ok()) return entry.status();
    data.entries.push_back(*std::move(entry));
  }
  return data;
}

absl::StatusOr<CheckpointData> CheckpointStore::Load() const {
  const std::string file = path();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no checkpoint at ", file));
    return ErrnoError("opening", file);
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  absl::StatusOr<CheckpointData> data = DecodeCheckpoint(bytes.str());
  if (!data.ok()) {
    return absl::DataLossError(absl::StrCat(file, ": ", data.status().message()));
  }
  return data;
}

absl::Status CheckpointStore::CheckWritable() const {
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("creating state directory", dir_);
  }
  const std::string probe = absl::StrCat(dir_, "/.write-probe-", getpid());
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("creating a file in state directory", dir_);
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

absl::Status CheckpointStore::Save(const CheckpointData& data) const {
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("creating state directory", dir_);
  }
  const std::string file = path();
  const std::string temporary = absl::StrCat(file, ".tmp-", getpid());
  int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("creating", temporary);

  absl::Status status = WriteAll(fd, EncodeCheckpoint(data), temporary);
  if (status.ok() && fsync(fd) != 0) status = ErrnoError("fsync of", temporary);
  if (close(fd) != 0 && status.ok()) status = ErrnoError("closing", temporary);
  if (status.ok() && rename(temporary.c_str(), file.c_str()) != 0) {
    status = ErrnoError("renaming over", file);
  }
  if (!status.ok()) {
    unlink(temporary.c_str());
    return status;
  }
  return FsyncDirectory(dir_);
}

absl::StatusOr<std::string> CheckpointStore::MoveAside(absl::Time now) const {
  const std::string file = path();
  const std::string aside = absl::StrCat(file, ".corrupt-", absl::ToUnixSeconds(now));
  if (rename(file.c_str(), aside.c_str()) != 0) return ErrnoError("renaming aside", file);
  return aside;
}

}  // namespace numapin
