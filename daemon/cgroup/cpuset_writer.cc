// Ordered cpuset writes: widen ancestors, set leaves, narrow ancestors.
#include "daemon/cgroup/cpuset_writer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace numapin {
namespace {

absl::StatusOr<CpuSet> ReadSet(CgroupFiles* files, const std::string& dir, const char* file) {
  absl::StatusOr<std::string> text = files->Read(dir, file);
  if (!text.ok()) return text.status();
  return ParseCpusetFile(*files, dir, file, *text);
}

}  // namespace

absl::StatusOr<CpuSet> ParseCpusetFile(const CgroupFiles& files, const std::string& dir,
                                       const char* file, absl::string_view text) {
  absl::StatusOr<CpuSet> set = CpuSet::Parse(text);
  if (!set.ok()) {
    return absl::InternalError(absl::StrCat(files.AbsolutePath(dir), "/", file, " contains \"",
                                            absl::StripAsciiWhitespace(text),
                                            "\", not a list: ", set.status().message()));
  }
  return set;
}

absl::StatusOr<CpusetValues> CpusetWriter::Read(const std::string& dir) {
  CpusetValues values;
  absl::StatusOr<CpuSet> cpus = ReadSet(files_, dir, "cpuset.cpus");
  if (!cpus.ok()) return cpus.status();
  absl::StatusOr<CpuSet> mems = ReadSet(files_, dir, "cpuset.mems");
  if (!mems.ok()) return mems.status();
  values.cpus = *cpus;
  values.mems = *mems;
  return values;
}

absl::Status CpusetWriter::WriteSet(const std::string& dir, const char* file, const CpuSet& set) {
  return files_->Write(dir, file, set.ToString());
}

absl::Status CpusetWriter::EnableCpusetController(const std::string& dir) {
  absl::StatusOr<std::string> control = files_->Read(dir, "cgroup.subtree_control");
  if (!control.ok()) return control.status();
  for (absl::string_view word : absl::StrSplit(*control, absl::ByAnyChar(" \n"))) {
    if (word == "cpuset") return absl::OkStatus();
  }
  return files_->Write(dir, "cgroup.subtree_control", "+cpuset");
}

// Writes cpus, then mems, where they differ from `current`, and updates it. Mems go second so
// that a v1 leaf is never left with new mems but old cpus when the cpus write is the one that
// fails.
void CpusetWriter::WriteTarget(const std::string& dir, const CpuSet& cpus, const CpuSet* mems,
                               CpusetValues& current, CpusetWriteResult& result) {
  if (!(current.cpus == cpus)) {
    absl::Status status = WriteSet(dir, "cpuset.cpus", cpus);
    if (status.ok()) {
      result.cpus_written = true;
      current.cpus = cpus;
    } else if (result.status.ok()) {
      result.status = status;
    }
  }
  if (mems != nullptr && !mems->Empty() && !(current.mems == *mems)) {
    absl::Status status = WriteSet(dir, "cpuset.mems", *mems);
    if (status.ok()) {
      result.mems_written = true;
      current.mems = *mems;
    } else if (result.status.ok()) {
      result.status = status;
    }
  }
}

// An unmanaged v1 cgroup with empty mems gets its parent's: the kernel accepts nothing wider, and
// the topology's nodes may not match the machine's (a synthetic topology in tests).
std::optional<CpuSet> CpusetWriter::MemsFor(const CpusetTarget& target, const CpuSet& found) {
  if (target.mems.has_value()) return target.mems;
  if (version_ != CgroupVersion::kV1 || !found.Empty()) return std::nullopt;
  const size_t slash = target.dir.rfind('/');
  absl::StatusOr<CpuSet> parent =
      ReadSet(files_, slash == std::string::npos ? "" : target.dir.substr(0, slash), "cpuset.mems");
  if (parent.ok() && !parent->Empty()) return *parent;
  return all_mems_;
}

std::vector<CpusetWriteResult> CpusetWriter::Apply(const std::vector<CpusetTarget>& ancestors,
                                                   const std::vector<CpusetTarget>& leaves) {
  std::vector<CpusetWriteResult> results;
  std::vector<CpusetValues> current;
  for (const std::vector<CpusetTarget>* group : {&ancestors, &leaves}) {
    for (const CpusetTarget& target : *group) {
      CpusetWriteResult& result = results.emplace_back();
      result.dir = target.dir;
      absl::StatusOr<CpusetValues> found = Read(target.dir);
      if (found.ok()) {
        result.read_ok = true;
        result.found = *found;
      } else {
        result.status = found.status();
      }
      current.push_back(result.found);
    }
  }

  // Widen each ancestor to cover both what its children hold now and what they will hold.
  for (size_t i = 0; i < ancestors.size(); ++i) {
    if (!results[i].read_ok) continue;
    std::optional<CpuSet> mems = MemsFor(ancestors[i], current[i].mems);
    CpuSet wide_cpus = current[i].cpus.Union(ancestors[i].cpus);
    CpuSet wide_mems = mems.has_value() ? current[i].mems.Union(*mems) : current[i].mems;
    WriteTarget(ancestors[i].dir, wide_cpus, &wide_mems, current[i], results[i]);
    if (version_ == CgroupVersion::kV2) {
      absl::Status status = EnableCpusetController(ancestors[i].dir);
      if (!status.ok() && results[i].status.ok()) results[i].status = status;
    }
  }

  for (size_t j = 0; j < leaves.size(); ++j) {
    size_t i = ancestors.size() + j;
    if (!results[i].read_ok) continue;
    std::optional<CpuSet> mems = MemsFor(leaves[j], current[i].mems);
    WriteTarget(leaves[j].dir, leaves[j].cpus, mems.has_value() ? &*mems : nullptr, current[i],
                results[i]);
  }

  for (size_t i = ancestors.size(); i-- > 0;) {
    if (!results[i].read_ok) continue;
    std::optional<CpuSet> mems = MemsFor(ancestors[i], current[i].mems);
    WriteTarget(ancestors[i].dir, ancestors[i].cpus, mems.has_value() ? &*mems : nullptr,
                current[i], results[i]);
  }
  return results;
}

absl::StatusOr<bool> CpusetWriter::LiftCfsQuota(CgroupFiles* cpu_files, CgroupVersion version,
                                                const std::string& dir) {
  if (version == CgroupVersion::kV2) {
    absl::StatusOr<std::string> current = cpu_files->Read(dir, "cpu.max");
    if (!current.ok()) return current.status();
    std::vector<std::string> fields =
        absl::StrSplit(absl::StripAsciiWhitespace(*current), ' ', absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InternalError(absl::StrCat(cpu_files->AbsolutePath(dir), "/cpu.max contains \"",
                                              *current, "\", expected \"<quota> <period>\""));
    }
    if (fields[0] == "max") return false;
    absl::Status status = cpu_files->Write(dir, "cpu.max", absl::StrCat("max ", fields[1]));
    if (!status.ok()) return status;
    return true;
  }
  absl::StatusOr<std::string> current = cpu_files->Read(dir, "cpu.cfs_quota_us");
  if (!current.ok()) return current.status();
  if (absl::StripAsciiWhitespace(*current) == "-1") return false;
  absl::Status status = cpu_files->Write(dir, "cpu.cfs_quota_us", "-1");
  if (!status.ok()) return status;
  return true;
}

}  // namespace numapin
