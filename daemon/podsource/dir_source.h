// DirPodSource: a directory of Pod manifests (JSON or YAML, one Pod a file, as
// `kubectl get pod -o yaml` writes them), watched with inotify. For nodes and tests without a
// kubelet API: the directory is the whole truth, and each change re-reads all of it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "daemon/pod_source.h"

namespace numapin {

// Whether a directory entry is skipped: dotfiles and editor temporaries (name~, #name#, *.swp,
// *.swx, *.tmp, and vim's "4913" write probe).
bool IsIgnoredManifestName(const std::string& name);

class DirPodSource : public PodSource {
 public:
  // Fails when `dir` is not a readable directory. The first Read() returns the full list.
  static absl::StatusOr<std::unique_ptr<DirPodSource>> Create(const std::string& dir);
  ~DirPodSource() override;

  // An epoll fd over the inotify fd and an eventfd (for the first read and RequestRefresh).
  int fd() const override { return epoll_fd_; }
  void RequestRefresh() override;
  absl::StatusOr<std::optional<std::vector<Pod>>> Read(
      std::vector<absl::Status>* pod_errors) override;
  std::string name() const override { return "dir"; }

 private:
  DirPodSource(std::string dir, int epoll_fd, int inotify_fd, int event_fd);
  bool DrainEvents();  // Whether a relevant change or a refresh request came in.
  absl::StatusOr<std::vector<Pod>> ReadAll(std::vector<absl::Status>* pod_errors);

  const std::string dir_;
  // The last version of each manifest file that parsed. A file rewritten with content that does
  // not parse keeps this version, because dropping it would read as the pod's deletion and hand
  // its exclusive CPUs to others while its containers still run on them.
  std::map<std::string, Pod> last_good_;
  const int epoll_fd_;
  const int inotify_fd_;
  const int event_fd_;
};

}  // namespace numapin
