// inotify watches over the kubepods subtree.
#include "daemon/cgroup/watcher.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

constexpr uint32_t kWatchMask =
    IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR | IN_DONT_FOLLOW;

std::vector<std::string> Subdirectories(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (struct dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (entry->d_type == DT_DIR && name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CgroupWatcher>> CgroupWatcher::Create(const std::string& root,
                                                                     const std::string& top,
                                                                     int max_depth) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("inotify_init1 failed: ", std::strerror(errno)));
  }
  std::unique_ptr<CgroupWatcher> watcher(new CgroupWatcher(root, top, max_depth, fd));
  int wd = inotify_add_watch(fd, absl::StrCat(root, "/", top).c_str(), kWatchMask);
  if (wd < 0) {
    return absl::NotFoundError(absl::StrCat("watching ", root, "/", top,
                                            " failed: ", std::strerror(errno)));
  }
  inotify_rm_watch(fd, wd);
  watcher->Rescan();
  return watcher;
}

CgroupWatcher::~CgroupWatcher() { close(fd_); }

int CgroupWatcher::DepthOf(const std::string& relative) const {
  return static_cast<int>(std::count(relative.begin() + top_.size(), relative.end(), '/'));
}

void CgroupWatcher::WatchTree(const std::string& relative, int depth,
                              std::vector<std::string>* created) {
  if (depth > max_depth_) return;
  int wd = inotify_add_watch(fd_, absl::StrCat(root_, "/", relative).c_str(), kWatchMask);
  if (wd < 0) return;  // Removed again before the watch took; its IN_DELETE follows.
  paths_[wd] = relative;
  for (const std::string& name : Subdirectories(absl::StrCat(root_, "/", relative))) {
    std::string child = absl::StrCat(relative, "/", name);
    if (created != nullptr) created->push_back(child);
    WatchTree(child, depth + 1, created);
  }
}

void CgroupWatcher::Rescan() {
  for (const auto& [wd, path] : paths_) inotify_rm_watch(fd_, wd);
  paths_.clear();
  WatchTree(top_, 0, nullptr);
}

CgroupWatcher::Events CgroupWatcher::Drain() {
  Events events;
  alignas(struct inotify_event) char buffer[16384];
  for (;;) {
    ssize_t n = read(fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (char* at = buffer; at < buffer + n;) {
      auto* event = reinterpret_cast<struct inotify_event*>(at);
      at += sizeof(struct inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) {
        events.overflow = true;
        continue;
      }
      if (event->mask & IN_IGNORED) {
        paths_.erase(event->wd);
        continue;
      }
      auto parent = paths_.find(event->wd);
      if (parent == paths_.end() || event->len == 0 || !(event->mask & IN_ISDIR)) continue;
      std::string child = absl::StrCat(parent->second, "/", event->name);
      if (event->mask & (IN_CREATE | IN_MOVED_TO)) {
        events.created.push_back(child);
        WatchTree(child, DepthOf(child), &events.created);
      } else {
        events.removed.push_back(child);
      }
    }
  }
  if (events.overflow) Rescan();
  return events;
}

}  // namespace numapin
