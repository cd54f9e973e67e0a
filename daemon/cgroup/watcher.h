// CgroupWatcher: inotify over the kubepods subtree, so that a new container cgroup is pinned as
// soon as the runtime creates it. inotify is not recursive, so every new directory down to the
// pod level gets a watch of its own when it appears.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace numapin {

class CgroupWatcher {
 public:
  struct Events {
    std::vector<std::string> created;  // Relative to the root, parents before children.
    std::vector<std::string> removed;
    bool overflow = false;  // Events were lost (IN_Q_OVERFLOW): the caller must rescan.
  };

  // Watches `root`/`top` and directories below it down to `max_depth` levels under `top`
  // (2 covers kubepods/<qos>/<pod>, whose children are the container cgroups).
  static absl::StatusOr<std::unique_ptr<CgroupWatcher>> Create(const std::string& root,
                                                               const std::string& top,
                                                               int max_depth = 2);
  ~CgroupWatcher();
  CgroupWatcher(const CgroupWatcher&) = delete;
  CgroupWatcher& operator=(const CgroupWatcher&) = delete;

  int fd() const { return fd_; }

  // Reads every waiting event without blocking. Directories created under a new directory
  // before its watch was added are reported too.
  Events Drain();

  // Re-adds watches over the whole subtree, after an overflow.
  void Rescan();

  size_t watch_count() const { return paths_.size(); }

 private:
  CgroupWatcher(std::string root, std::string top, int max_depth, int fd)
      : root_(std::move(root)), top_(std::move(top)), max_depth_(max_depth), fd_(fd) {}
  // Adds a watch on `relative` and, recursively, on its subdirectories; appends to `created`
  // every directory below it found on the way.
  void WatchTree(const std::string& relative, int depth, std::vector<std::string>* created);
  int DepthOf(const std::string& relative) const;

  std::string root_;
  std::string top_;
  int max_depth_;
  int fd_;
  std::map<int, std::string> paths_;  // Watch descriptor -> relative path.
};

}  // namespace numapin
