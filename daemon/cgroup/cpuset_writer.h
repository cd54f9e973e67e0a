// CpusetWriter: writes cpuset.cpus and cpuset.mems of a subtree in an order the kernel accepts.
// cgroup v1 rejects a parent narrower than any child and a task joining a cgroup with empty
// cpuset.mems, so parents are widened before children change and narrowed only after them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "daemon/cgroup/layout.h"
#include "policy/cpuset.h"

namespace numapin {

struct CpusetTarget {
  std::string dir;  // Relative to the cpuset root.
  CpuSet cpus;
  // nullopt when numapind does not manage mems here. On v1 an empty cpuset.mems is still filled
  // with the parent's, because tasks cannot join a cgroup without mems.
  std::optional<CpuSet> mems;
};

struct CpusetValues {
  CpuSet cpus;
  CpuSet mems;
};

struct CpusetWriteResult {
  std::string dir;
  bool read_ok = false;
  CpusetValues found;  // Values before this pass wrote anything.
  bool cpus_written = false;
  bool mems_written = false;
  absl::Status status;  // The first failed read or write.
};

// Parses the text of a cpuset list file; Internal, naming the file and its text, when the text
// is not in the kernel's list format.
absl::StatusOr<CpuSet> ParseCpusetFile(const CgroupFiles& files, const std::string& dir,
                                       const char* file, absl::string_view text);

class CpusetWriter {
 public:
  // `all_mems`: every NUMA node with memory, for v1 cgroups with empty mems whose parent's
  // mems cannot be read.
  CpusetWriter(CgroupFiles* files, CgroupVersion version, CpuSet all_mems)
      : files_(files), version_(version), all_mems_(std::move(all_mems)) {}

  // Reads cpuset.cpus and cpuset.mems as configured (not the effective sets).
  absl::StatusOr<CpusetValues> Read(const std::string& dir);

  // Writes `ancestors` (ordered from the top down) and `leaves` (container cgroups): ancestors
  // are first widened to the union of what they hold and what they should hold, then the leaves
  // get their values, then the ancestors are narrowed bottom-up. On v2, +cpuset is added to
  // each ancestor's cgroup.subtree_control where missing. Returns the ancestors' results, then
  // the leaves'. A failure on one cgroup does not stop the others.
  std::vector<CpusetWriteResult> Apply(const std::vector<CpusetTarget>& ancestors,
                                       const std::vector<CpusetTarget>& leaves);

  // Removes the CFS quota of a cgroup in the cpu controller's hierarchy: cpu.max "max <period>"
  // on v2, cpu.cfs_quota_us -1 on v1. Returns true when it had to write.
  static absl::StatusOr<bool> LiftCfsQuota(CgroupFiles* cpu_files, CgroupVersion version,
                                           const std::string& dir);

 private:
  absl::Status EnableCpusetController(const std::string& dir);
  absl::Status WriteSet(const std::string& dir, const char* file, const CpuSet& set);
  void WriteTarget(const std::string& dir, const CpuSet& cpus, const CpuSet* mems,
                   CpusetValues& current, CpusetWriteResult& result);
  std::optional<CpuSet> MemsFor(const CpusetTarget& target, const CpuSet& found);

  CgroupFiles* files_;
  CgroupVersion version_;
  CpuSet all_mems_;
};

}  // namespace numapin
