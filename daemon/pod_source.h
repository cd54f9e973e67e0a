// PodSource: where numapind learns which pods run on its node. Implementations: the kubelet's
// /pods endpoint (polled) and a directory of manifests (watched with inotify).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/pod.h"

namespace numapin {

struct PodSourceOptions {
  std::string spec;  // "kubelet" or "dir:PATH".
  std::string kubelet_url = "https://127.0.0.1:10250/pods";
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  bool insecure_skip_tls_verify = false;
  absl::Duration poll_interval = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(10);  // Whole GET, connect included.
  absl::Duration connect_timeout = absl::Seconds(3);   // TCP and TLS handshake.
};

class PodSource {
 public:
  virtual ~PodSource() = default;

  // A file descriptor for the event loop's epoll set: readable when Read() may have news.
  virtual int fd() const = 0;

  // Asks for a fresh read as soon as possible (a new container cgroup appeared). Never blocks.
  virtual void RequestRefresh() = 0;

  // Called when fd() is readable. Never blocks on the network. Returns the full current pod list
  // when a read completed, nullopt when there is nothing new yet, or the error of a failed read
  // (the caller keeps its last good list). Individual malformed pods are dropped from the list and
  // reported in `pod_errors`.
  virtual absl::StatusOr<std::optional<std::vector<Pod>>> Read(
      std::vector<absl::Status>* pod_errors) = 0;

  virtual std::string name() const = 0;  // "kubelet" or "dir", the metrics label.
};

absl::StatusOr<std::unique_ptr<PodSource>> MakePodSource(const PodSourceOptions& options);

}  // namespace numapin
