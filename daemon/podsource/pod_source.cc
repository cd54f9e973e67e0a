// MakePodSource: picks the pod source implementation from --pod-source.
#include "daemon/pod_source.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/podsource/dir_source.h"
#include "daemon/podsource/kubelet_source.h"

namespace numapin {

absl::StatusOr<std::unique_ptr<PodSource>> MakePodSource(const PodSourceOptions& options) {
  if (options.spec == "kubelet") {
    absl::StatusOr<std::unique_ptr<KubeletPodSource>> source = KubeletPodSource::Create(options);
    if (!source.ok()) return source.status();
    return std::unique_ptr<PodSource>(std::move(*source));
  }

  constexpr absl::string_view kDirPrefix = "dir:";
  if (absl::StartsWith(options.spec, kDirPrefix) && options.spec.size() > kDirPrefix.size()) {
    absl::StatusOr<std::unique_ptr<DirPodSource>> source =
        DirPodSource::Create(options.spec.substr(kDirPrefix.size()));
    if (!source.ok()) return source.status();
    return std::unique_ptr<PodSource>(std::move(*source));
  }

  return absl::InvalidArgumentError(
      absl::StrCat("invalid --pod-source '", options.spec, "': expected 'kubelet' or 'dir:PATH'"));
}

}  // namespace numapin
