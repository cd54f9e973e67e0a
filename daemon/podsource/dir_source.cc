// DirPodSource: inotify watch and full re-read of a manifest directory.
#include "daemon/podsource/dir_source.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

constexpr uint32_t kWatchMask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF;
// A Pod manifest is a few KB; a bigger file is not one and is reported instead of read.
constexpr std::uintmax_t kMaxManifestBytes = 4 << 20;

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, " failed: ", std::strerror(errno)));
}

absl::StatusOr<std::string> ReadManifest(const std::filesystem::path& path) {
  std::error_code error;
  std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return absl::NotFoundError(absl::StrCat(path.string(), ": ", error.message()));
  if (size > kMaxManifestBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": ", size, " bytes is too large for a Pod manifest (max 4 MiB)"));
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool IsIgnoredManifestName(const std::string& name) {
  if (name.empty() || name[0] == '.') return true;
  if (name == "4913") return true;  // vim creates and deletes it to test that it may write.
  if (name.back() == '~') return true;
  if (name.front() == '#' && name.back() == '#') return true;
  for (const char* suffix : {".swp", ".swx", ".tmp"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<DirPodSource>> DirPodSource::Create(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat("pod manifest directory ", dir,
                                            " is not a directory or does not exist; create it or "
                                            "fix --pod-source=dir:PATH"));
  }

  int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return ErrnoStatus("inotify_init1");
  if (inotify_add_watch(inotify_fd, dir.c_str(), kWatchMask) < 0) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("cannot watch pod manifest directory ", dir, ": ", std::strerror(errno)));
    close(inotify_fd);
    return status;
  }
  int event_fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);  // 1: the first Read() lists the dir.
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (event_fd < 0 || epoll_fd < 0) {
    absl::Status status = ErrnoStatus("eventfd or epoll_create1");
    close(inotify_fd);
    if (event_fd >= 0) close(event_fd);
    if (epoll_fd >= 0) close(epoll_fd);
    return status;
  }
  std::unique_ptr<DirPodSource> source(new DirPodSource(dir, epoll_fd, inotify_fd, event_fd));

  for (int member : {inotify_fd, event_fd}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = member;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, member, &event) != 0) return ErrnoStatus("epoll_ctl");
  }
  return source;
}

DirPodSource::DirPodSource(std::string dir, int epoll_fd, int inotify_fd, int event_fd)
    : dir_(std::move(dir)), epoll_fd_(epoll_fd), inotify_fd_(inotify_fd), event_fd_(event_fd) {}

DirPodSource::~DirPodSource() {
  close(epoll_fd_);
  close(inotify_fd_);
  close(event_fd_);
}

void DirPodSource::RequestRefresh() {
  uint64_t one = 1;
  (void)!write(event_fd_, &one, sizeof(one));
}

bool DirPodSource::DrainEvents() {
  uint64_t count = 0;
  bool changed = read(event_fd_, &count, sizeof(count)) == sizeof(count) && count > 0;

  alignas(inotify_event) char buffer[16 * 1024];
  while (true) {
    ssize_t length = read(inotify_fd_, buffer, sizeof(buffer));
    if (length <= 0) break;  // EAGAIN: drained.
    for (ssize_t offset = 0; offset < length;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
      offset += sizeof(inotify_event) + event->len;
      std::string name = event->len > 0 ? event->name : "";
      // Events on the directory itself, an overflowed queue, and Kubernetes' atomic writer
      // (ConfigMap and Secret volumes swap a "..data" symlink) all count as changes.
      if (event->len == 0 || (event->mask & IN_Q_OVERFLOW) || name == "..data" ||
          !IsIgnoredManifestName(name)) {
        changed = true;
      }
    }
  }
  return changed;
}

absl::StatusOr<std::vector<Pod>> DirPodSource::ReadAll(std::vector<absl::Status>* pod_errors) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir_, error), end; !error && it != end;
       it.increment(error)) {
    std::string name = it->path().filename().string();
    if (IsIgnoredManifestName(name)) continue;
    std::error_code type_error;
    if (!std::filesystem::is_regular_file(it->path(), type_error)) continue;
    files.push_back(it->path());
  }
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot list pod manifest directory ", dir_, ": ",
                                               error.message(), "; check --pod-source=dir:PATH"));
  }
  std::sort(files.begin(), files.end());

  std::vector<Pod> pods;
  std::map<std::string, std::string> file_of_pod;
  std::map<std::string, Pod> good;
  for (const std::filesystem::path& path : files) {
    absl::StatusOr<std::string> text = ReadManifest(path);
    // A file removed between listing and reading is a deletion, not a malformed manifest.
    if (!text.ok() && absl::IsNotFound(text.status())) continue;
    absl::StatusOr<Pod> pod = text.ok() ? ParsePod(*text) : text.status();
    if (!pod.ok()) {
      auto kept = last_good_.find(path.string());
      if (pod_errors != nullptr) {
        pod_errors->push_back(absl::InvalidArgumentError(
            absl::StrCat("pod manifest ", path.string(),
                         kept != last_good_.end() ? " is invalid; keeping its last valid version: "
                                                  : " left out: ",
                         pod.status().message())));
      }
      if (kept == last_good_.end()) continue;
      pod = kept->second;
    }
    good.emplace(path.string(), *pod);
    auto [previous, inserted] = file_of_pod.emplace(pod->Key(), path.string());
    if (!inserted) {
      if (pod_errors != nullptr) {
        pod_errors->push_back(absl::AlreadyExistsError(
            absl::StrCat("pod manifest ", path.string(), " left out: pod ", pod->Key(),
                         " is already in ", previous->second)));
      }
      continue;
    }
    pods.push_back(*std::move(pod));
  }
  last_good_ = std::move(good);
  return pods;
}

absl::StatusOr<std::optional<std::vector<Pod>>> DirPodSource::Read(
    std::vector<absl::Status>* pod_errors) {
  if (!DrainEvents()) return std::nullopt;

  // Renews the watch, which a removed or replaced directory loses; this lets a refresh recover
  // once the directory is back. For a directory still watched it only updates the mask.
  inotify_add_watch(inotify_fd_, dir_.c_str(), kWatchMask);
  absl::StatusOr<std::vector<Pod>> pods = ReadAll(pod_errors);
  if (!pods.ok()) return pods.status();
  return std::make_optional(*std::move(pods));
}

}  // namespace numapin
