// KubeletPodSource: polls the kubelet's /pods endpoint from a worker thread, one GET at a time,
// every poll_interval and at once on RequestRefresh(). The worker parses the response and hands
// the result to the event loop through an eventfd, so Read() never waits on the network.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "daemon/pod_source.h"

namespace numapin {

class KubeletPodSource : public PodSource {
 public:
  // Starts the worker, which fetches right away.
  static absl::StatusOr<std::unique_ptr<KubeletPodSource>> Create(const PodSourceOptions& options);
  ~KubeletPodSource() override;  // Cancels a GET in progress and joins the worker.

  int fd() const override { return event_fd_; }
  void RequestRefresh() override;
  absl::StatusOr<std::optional<std::vector<Pod>>> Read(
      std::vector<absl::Status>* pod_errors) override;
  std::string name() const override { return "kubelet"; }

 private:
  KubeletPodSource(const PodSourceOptions& options, int event_fd);
  void RunWorker();
  absl::StatusOr<PodList> FetchAndParse();

  const PodSourceOptions options_;
  const int event_fd_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool refresh_requested_ = true;  // The first fetch starts at once.
  bool stopping_ = false;
  // The newest completed fetch not yet taken by Read(). A newer result replaces an untaken one:
  // each is a full pod list, so only the newest matters.
  std::optional<absl::StatusOr<PodList>> result_;

  std::atomic<bool> cancel_{false};
  std::thread worker_;
};

}  // namespace numapin
