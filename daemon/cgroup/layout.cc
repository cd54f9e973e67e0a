// Cgroup layout detection from mountinfo, and the kubelet's cgroup naming for both drivers.
#include "daemon/cgroup/layout.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace numapin {
namespace {

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxUidLength = 64;

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string DecodeOctalEscapes(absl::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const char a = field[i + 1], b = field[i + 2], c = field[i + 3];
      if (a >= '0' && a <= '7' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool HasOption(const MountInfoEntry& entry, absl::string_view option) {
  return std::find(entry.super_options.begin(), entry.super_options.end(), option) !=
         entry.super_options.end();
}

bool IsV1With(const MountInfoEntry& entry, absl::string_view controller) {
  return entry.fs_type == "cgroup" && HasOption(entry, controller);
}

// True when `path` is `prefix` or below it.
bool IsUnder(const std::string& path, const std::string& prefix) {
  if (prefix == "/") return true;
  return path == prefix || absl::StartsWith(path, absl::StrCat(prefix, "/"));
}

const MountInfoEntry* ContainingMount(const std::vector<MountInfoEntry>& mounts,
                                      const std::string& path) {
  const MountInfoEntry* best = nullptr;
  for (const MountInfoEntry& entry : mounts) {
    if (!IsUnder(path, entry.mount_point)) continue;
    // Later lines win on equal mount points: they are mounted over the earlier ones.
    if (best == nullptr || entry.mount_point.size() >= best->mount_point.size()) best = &entry;
  }
  return best;
}

bool V2HasCpuset(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.controllers");
  std::string word;
  while (in >> word) {
    if (word == "cpuset") return true;
  }
  return false;
}

// For a v1 cpuset root, the same relative directory in the cpu controller's hierarchy.
std::string V1CpuRoot(const std::vector<MountInfoEntry>& mounts, const MountInfoEntry& cpuset,
                      const std::string& cpuset_root) {
  const std::string relative =
      cpuset_root.substr(cpuset.mount_point == "/" ? 0 : cpuset.mount_point.size());
  for (const MountInfoEntry& entry : mounts) {
    if (!IsV1With(entry, "cpu")) continue;
    std::string candidate = entry.mount_point + relative;
    if (IsDirectory(candidate)) return candidate;
  }
  return "";
}

absl::Status FindHierarchy(const std::vector<MountInfoEntry>& mounts, const std::string& root,
                           CgroupLayout& layout) {
  const MountInfoEntry* containing = ContainingMount(mounts, root);
  if (containing != nullptr && IsV1With(*containing, "cpuset")) {
    layout.version = CgroupVersion::kV1;
    layout.cpuset_root = root;
    layout.cpu_root = V1CpuRoot(mounts, *containing, root);
    return absl::OkStatus();
  }
  if (containing != nullptr && containing->fs_type == "cgroup2") {
    if (!V2HasCpuset(root)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the cpuset controller is not available in the cgroup v2 hierarchy at ", root,
          " (it is bound to a v1 hierarchy); pass --cgroup-root inside the v1 cpuset hierarchy"));
    }
    layout.version = CgroupVersion::kV2;
    layout.cpuset_root = root;
    layout.cpu_root = root;
    return absl::OkStatus();
  }

  // A parent of hierarchies, such as the tmpfs at /sys/fs/cgroup on a v1 or hybrid machine.
  for (const MountInfoEntry& entry : mounts) {
    if (IsV1With(entry, "cpuset") && IsUnder(entry.mount_point, root)) {
      layout.version = CgroupVersion::kV1;
      layout.cpuset_root = entry.mount_point;
      layout.cpu_root = V1CpuRoot(mounts, entry, entry.mount_point);
      return absl::OkStatus();
    }
  }
  for (const MountInfoEntry& entry : mounts) {
    if (entry.fs_type == "cgroup2" && IsUnder(entry.mount_point, root) &&
        V2HasCpuset(entry.mount_point)) {
      layout.version = CgroupVersion::kV2;
      layout.cpuset_root = entry.mount_point;
      layout.cpu_root = entry.mount_point;
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("no cgroup hierarchy with the cpuset controller at or under ", root,
                   "; check --cgroup-root and /proc/self/mountinfo"));
}

}  // namespace

const char* CgroupVersionName(CgroupVersion version) {
  return version == CgroupVersion::kV1 ? "v1" : "v2";
}

const char* CgroupDriverName(CgroupDriver driver) {
  return driver == CgroupDriver::kSystemd ? "systemd" : "cgroupfs";
}

std::vector<MountInfoEntry> ParseMountInfo(absl::string_view text) {
  std::vector<MountInfoEntry> mounts;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto separator = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 7 || separator == fields.end() || fields.end() - separator < 3) continue;
    MountInfoEntry entry;
    entry.root = DecodeOctalEscapes(fields[3]);
    entry.mount_point = DecodeOctalEscapes(fields[4]);
    entry.fs_type = std::string(separator[1]);
    for (absl::string_view option : absl::StrSplit(separator[3], ',')) {
      entry.super_options.emplace_back(option);
    }
    mounts.push_back(std::move(entry));
  }
  return mounts;
}

absl::StatusOr<CgroupLayout> DetectLayout(const std::string& cgroup_root,
                                          absl::string_view mountinfo) {
  char resolved[PATH_MAX];
  if (realpath(cgroup_root.c_str(), resolved) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("--cgroup-root ", cgroup_root, " cannot be resolved: ", std::strerror(errno)));
  }
  CgroupLayout layout;
  absl::Status status = FindHierarchy(ParseMountInfo(mountinfo), resolved, layout);
  if (!status.ok()) return status;

  if (IsDirectory(layout.cpuset_root + "/kubepods.slice")) {
    layout.driver = CgroupDriver::kSystemd;
    layout.kubepods = "kubepods.slice";
  } else if (IsDirectory(layout.cpuset_root + "/kubepods")) {
    layout.driver = CgroupDriver::kCgroupfs;
    layout.kubepods = "kubepods";
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "neither kubepods nor kubepods.slice exists in ", layout.cpuset_root,
        "; start numapind after the kubelet, or point --cgroup-root at the directory holding it"));
  }
  if (!layout.cpu_root.empty() && !IsDirectory(layout.cpu_root + "/" + layout.kubepods)) {
    layout.cpu_root.clear();
  }
  return layout;
}

absl::Status ValidatePodUid(absl::string_view uid) {
  if (uid.empty()) {
    // A hand-written manifest often leaves it out, and the pod's cgroup is named after it.
    return absl::InvalidArgumentError(
        "pod uid is missing; set metadata.uid to the uid the API server gave the pod");
  }
  bool valid = !uid.empty() && uid.size() <= kMaxUidLength &&
               std::all_of(uid.begin(), uid.end(),
                           [](char c) { return absl::ascii_isxdigit(c) || c == '-'; });
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat("pod uid \"", absl::CEscape(uid),
                                                   "\" is invalid: expected 1 to ", kMaxUidLength,
                                                   " hex digits and dashes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateContainerId(absl::string_view id) {
  bool valid = !id.empty() && id.size() <= kMaxIdLength &&
               std::all_of(id.begin(), id.end(),
                           [](char c) { return absl::ascii_isalnum(c) || c == '_' || c == '-'; });
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat("container id \"", absl::CEscape(id),
                                                   "\" is invalid: expected 1 to ", kMaxIdLength,
                                                   " letters, digits, '_' and '-'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ContainerId> ParseContainerId(absl::string_view text) {
  ContainerId parsed;
  size_t scheme = text.find("://");
  if (scheme == absl::string_view::npos) {
    parsed.id = std::string(text);
  } else {
    parsed.runtime = std::string(text.substr(0, scheme));
    parsed.id = std::string(text.substr(scheme + 3));
  }
  absl::Status status = ValidateContainerId(parsed.id);
  if (!status.ok()) return status;
  return parsed;
}

std::vector<std::string> PodCgroupCandidates(const CgroupLayout& layout, absl::string_view uid,
                                             QosClass qos) {
  std::vector<QosClass> order = {qos};
  for (QosClass other : {QosClass::kGuaranteed, QosClass::kBurstable, QosClass::kBestEffort}) {
    if (other != qos) order.push_back(other);
  }
  std::vector<std::string> paths;
  for (QosClass each : order) {
    const char* level = each == QosClass::kBurstable    ? "burstable"
                        : each == QosClass::kBestEffort ? "besteffort"
                                                        : "";
    if (layout.driver == CgroupDriver::kCgroupfs) {
      paths.push_back(*level == '\0' ? absl::StrCat("kubepods/pod", uid)
                                     : absl::StrCat("kubepods/", level, "/pod", uid));
      continue;
    }
    const std::string escaped = absl::StrReplaceAll(uid, {{"-", "_"}});
    paths.push_back(*level == '\0'
                        ? absl::StrCat("kubepods.slice/kubepods-pod", escaped, ".slice")
                        : absl::StrCat("kubepods.slice/kubepods-", level, ".slice/kubepods-", level,
                                       "-pod", escaped, ".slice"));
  }
  return paths;
}

std::vector<std::string> ContainerCgroupCandidates(const CgroupLayout& layout,
                                                   const ContainerId& id) {
  if (layout.driver == CgroupDriver::kSystemd) {
    if (id.runtime == "cri-o") return {absl::StrCat("crio-", id.id, ".scope")};
    if (id.runtime == "docker") return {absl::StrCat("docker-", id.id, ".scope")};
    if (id.runtime == "containerd") return {absl::StrCat("cri-containerd-", id.id, ".scope")};
    return {absl::StrCat("cri-containerd-", id.id, ".scope"),
            absl::StrCat("crio-", id.id, ".scope"), absl::StrCat("docker-", id.id, ".scope")};
  }
  if (id.runtime == "cri-o") return {absl::StrCat("crio-", id.id), id.id};
  return {id.id, absl::StrCat("crio-", id.id)};
}

std::vector<std::string> QosCgroupPaths(const CgroupLayout& layout) {
  if (layout.driver == CgroupDriver::kCgroupfs) {
    return {"kubepods/burstable", "kubepods/besteffort"};
  }
  return {"kubepods.slice/kubepods-burstable.slice", "kubepods.slice/kubepods-besteffort.slice"};
}

std::optional<std::string> PodUidFromDirName(absl::string_view name) {
  std::string uid;
  if (absl::StartsWith(name, "pod")) {
    uid = std::string(name.substr(3));
  } else if (absl::StartsWith(name, "kubepods-") && absl::EndsWith(name, ".slice")) {
    size_t pod = name.rfind("-pod");
    if (pod == absl::string_view::npos) return std::nullopt;
    absl::string_view middle = name.substr(pod + 4, name.size() - pod - 4 - 6);
    uid = absl::StrReplaceAll(middle, {{"_", "-"}});
  } else {
    return std::nullopt;
  }
  if (!ValidatePodUid(uid).ok()) return std::nullopt;
  return uid;
}

}  // namespace numapin
