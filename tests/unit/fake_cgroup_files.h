// FakeCgroupFiles: an in-memory cgroup tree for unit tests that enforces cgroup v1's cpuset
// rules: a child's cpus and mems lie within its parent's, and a parent cannot shrink below a
// child's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/cgroup/cgroup_fs.h"
#include "policy/cpuset.h"

namespace numapin {

class FakeCgroupFiles : public CgroupFiles {
 public:
  // Adds a directory with the given control files.
  void AddDir(const std::string& dir, std::map<std::string, std::string> files = {}) {
    dirs_[dir] = std::move(files);
  }
  std::string Get(const std::string& dir, const std::string& file) { return dirs_[dir][file]; }
  const std::vector<std::string>& writes() const { return writes_; }
  void clear_writes() { writes_.clear(); }

  absl::StatusOr<std::string> Read(const std::string& dir, const std::string& file) override {
    auto d = dirs_.find(dir);
    if (d == dirs_.end() || !d->second.count(file)) {
      return absl::NotFoundError(absl::StrCat(dir, "/", file, " not found"));
    }
    return d->second[file] + "\n";
  }

  absl::Status Write(const std::string& dir, const std::string& file,
                     const std::string& value) override {
    auto d = dirs_.find(dir);
    if (d == dirs_.end()) return absl::NotFoundError(absl::StrCat(dir, " not found"));
    if (file == "cpuset.cpus" || file == "cpuset.mems") {
      absl::Status status = CheckV1Rules(dir, file, value);
      if (!status.ok()) return status;
    }
    writes_.push_back(absl::StrCat(dir, "/", file, "=", value));
    if (file == "cgroup.subtree_control") {
      d->second[file] = absl::StrCat(d->second[file], " ", value.substr(1));
    } else {
      d->second[file] = value;
    }
    return absl::OkStatus();
  }

  bool IsDirectory(const std::string& dir) override { return dir.empty() || dirs_.count(dir); }

  absl::StatusOr<std::vector<std::string>> ListDirectories(const std::string& dir) override {
    std::vector<std::string> names;
    const std::string prefix = dir.empty() ? "" : dir + "/";
    for (const auto& [path, files] : dirs_) {
      if (absl::StartsWith(path, prefix) && path.size() > prefix.size() &&
          path.find('/', prefix.size()) == std::string::npos) {
        names.push_back(path.substr(prefix.size()));
      }
    }
    return names;
  }

  absl::StatusOr<uint64_t> Inode(const std::string& dir) override {
    if (!dirs_.count(dir)) return absl::NotFoundError(dir);
    return std::hash<std::string>()(dir);
  }

  std::string AbsolutePath(const std::string& dir) const override { return "/fake/" + dir; }

  bool enforce_v1 = true;

 private:
  absl::Status CheckV1Rules(const std::string& dir, const std::string& file,
                            const std::string& value) {
    if (!enforce_v1) return absl::OkStatus();
    CpuSet set = *CpuSet::Parse(value);
    size_t slash = dir.rfind('/');
    if (slash != std::string::npos) {
      std::string parent = dir.substr(0, slash);
      auto p = dirs_.find(parent);
      if (p != dirs_.end() && p->second.count(file) &&
          !set.IsSubsetOf(*CpuSet::Parse(p->second[file]))) {
        return absl::InvalidArgumentError(
            absl::StrCat("EINVAL: ", dir, "/", file, "=", value, " exceeds the parent"));
      }
    }
    for (const auto& [path, files] : dirs_) {
      if (!absl::StartsWith(path, dir + "/") || path.find('/', dir.size() + 1) != std::string::npos)
        continue;
      auto child = files.find(file);
      if (child != files.end() && !CpuSet::Parse(child->second)->IsSubsetOf(set)) {
        return absl::FailedPreconditionError(
            absl::StrCat("EBUSY: ", dir, "/", file, "=", value, " excludes a child's"));
      }
    }
    return absl::OkStatus();
  }

  std::map<std::string, std::map<std::string, std::string>> dirs_;
  std::vector<std::string> writes_;
};

}  // namespace numapin
