// KubeletPodSource: the worker thread's poll loop and the loop-side Read().
#include "daemon/podsource/kubelet_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "daemon/podsource/kubelet_fetch.h"

namespace numapin {

absl::StatusOr<std::unique_ptr<KubeletPodSource>> KubeletPodSource::Create(
    const PodSourceOptions& options) {
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid pod source poll interval ",
                                                   absl::FormatDuration(options.poll_interval),
                                                   ": expected a positive duration such as 5s"));
  }
  if (options.request_timeout <= absl::ZeroDuration() ||
      options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("kubelet request and connect timeouts must be positive");
  }
  InitCurlOnce();

  int event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd < 0) {
    return absl::InternalError(absl::StrCat("eventfd failed: ", std::strerror(errno)));
  }
  std::unique_ptr<KubeletPodSource> source(new KubeletPodSource(options, event_fd));
  source->worker_ = std::thread([raw = source.get()] { raw->RunWorker(); });
  return source;
}

KubeletPodSource::KubeletPodSource(const PodSourceOptions& options, int event_fd)
    : options_(options), event_fd_(event_fd) {}

KubeletPodSource::~KubeletPodSource() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cancel_.store(true);
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  close(event_fd_);
}

void KubeletPodSource::RequestRefresh() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    refresh_requested_ = true;
  }
  wake_.notify_all();
}

absl::StatusOr<PodList> KubeletPodSource::FetchAndParse() {
  absl::StatusOr<std::string> body = FetchKubeletPods(options_, &cancel_);
  if (!body.ok()) return body.status();

  absl::StatusOr<PodList> list = ParsePodList(*body);
  if (!list.ok()) {
    return absl::DataLossError(absl::StrCat("invalid PodList from ", options_.kubelet_url, ": ",
                                            list.status().message(),
                                            "; does --kubelet-url point at the kubelet's /pods?"));
  }
  return list;
}

void KubeletPodSource::RunWorker() {
  const auto interval = absl::ToChronoNanoseconds(options_.poll_interval);
  auto next_poll = std::chrono::steady_clock::now();

  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait_until(lock, next_poll, [this] { return stopping_ || refresh_requested_; });
    if (stopping_) return;
    // A refresh asked for during this GET sets the flag again and gets a GET of its own, since
    // the pod it was asked for may have been created after this one read the list.
    refresh_requested_ = false;

    lock.unlock();
    absl::StatusOr<PodList> result = FetchAndParse();
    lock.lock();

    if (stopping_) return;
    result_ = std::move(result);
    uint64_t one = 1;
    // Cannot fail short of a bug: the counter would need 2^64-1 unread writes to block.
    (void)!write(event_fd_, &one, sizeof(one));
    next_poll = std::chrono::steady_clock::now() + interval;
  }
}

absl::StatusOr<std::optional<std::vector<Pod>>> KubeletPodSource::Read(
    std::vector<absl::Status>* pod_errors) {
  uint64_t count;
  (void)!read(event_fd_, &count, sizeof(count));  // EAGAIN when nothing is new; harmless.

  std::optional<absl::StatusOr<PodList>> result;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result.swap(result_);
  }
  if (!result.has_value()) return std::nullopt;
  if (!result->ok()) return result->status();

  PodList& list = **result;
  if (pod_errors != nullptr) {
    for (absl::Status& error : list.errors) pod_errors->push_back(std::move(error));
  }
  return std::make_optional(std::move(list.pods));
}

}  // namespace numapin
