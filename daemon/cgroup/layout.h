// Where the kubelet's pod and container cgroups live: the cgroup version that holds the cpuset
// controller (v1, v2 or a hybrid machine's v1 cpuset), the cgroup driver's naming (systemd or
// cgroupfs), and the checks that keep pod uids and container ids from escaping the cgroup root.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "policy/pod.h"

namespace numapin {

enum class CgroupVersion { kV1, kV2 };
enum class CgroupDriver { kSystemd, kCgroupfs };

const char* CgroupVersionName(CgroupVersion version);  // "v1", "v2".
const char* CgroupDriverName(CgroupDriver driver);     // "systemd", "cgroupfs".

// One line of /proc/self/mountinfo, the fields the detection needs.
struct MountInfoEntry {
  std::string root;         // Path inside the file system that is mounted.
  std::string mount_point;  // With octal escapes such as \040 decoded.
  std::string fs_type;      // "cgroup", "cgroup2", "tmpfs", ...
  std::vector<std::string> super_options;  // For cgroup v1: the controllers ("cpuset", "cpu").
};

std::vector<MountInfoEntry> ParseMountInfo(absl::string_view text);

struct CgroupLayout {
  CgroupVersion version = CgroupVersion::kV2;
  CgroupDriver driver = CgroupDriver::kCgroupfs;
  // Absolute directory that contains kubepods (or kubepods.slice) in the hierarchy of the cpuset
  // controller. Every path numapind writes is below it.
  std::string cpuset_root;
  // The same directory in the hierarchy of the cpu controller (CFS quota): equal to cpuset_root
  // on v2, empty when v1 has no cpu hierarchy with that directory.
  std::string cpu_root;
  std::string kubepods;  // "kubepods" or "kubepods.slice", relative to the roots.
};

// Finds the layout for --cgroup-root. The root is either a hierarchy's parent (/sys/fs/cgroup,
// where the cpuset controller's mount decides v1 or v2) or a directory inside one hierarchy
// (such as a test's /sys/fs/cgroup/cpuset/numapin-test-1), which mountinfo identifies.
// FailedPrecondition when no cpuset controller is found or no kubepods directory exists yet.
absl::StatusOr<CgroupLayout> DetectLayout(const std::string& cgroup_root,
                                          absl::string_view mountinfo);

// Pod uids and container ids become path components, so only these characters pass: a uid of
// hex digits and dashes (RFC 4122, or the 32 hex digits of a static pod), an id of letters,
// digits, '_' and '-'. Errors name the value.
absl::Status ValidatePodUid(absl::string_view uid);
absl::Status ValidateContainerId(absl::string_view id);

// A status's "containerd://<id>" split into runtime and id; the id is validated.
struct ContainerId {
  std::string runtime;  // "containerd", "cri-o", "docker", ...
  std::string id;
};
absl::StatusOr<ContainerId> ParseContainerId(absl::string_view text);

// Relative cgroup paths (from the layout's roots) where the pod's cgroup may be, one per QoS
// class the kubelet may have used, the pod's own QoS first.
std::vector<std::string> PodCgroupCandidates(const CgroupLayout& layout, absl::string_view uid,
                                             QosClass qos);

// Directory names a container's cgroup may have under its pod's cgroup.
std::vector<std::string> ContainerCgroupCandidates(const CgroupLayout& layout,
                                                   const ContainerId& id);

// The QoS-level directories under kubepods (burstable, besteffort) as relative paths.
std::vector<std::string> QosCgroupPaths(const CgroupLayout& layout);

// The pod uid a pod cgroup directory's name encodes ("pod<uid>" or
// "kubepods-burstable-pod<uid with _>.slice"); nullopt for any other name.
std::optional<std::string> PodUidFromDirName(absl::string_view name);

}  // namespace numapin
