// One authenticated GET of the kubelet's /pods endpoint with libcurl. Blocking: the kubelet pod
// source calls it from its worker thread, never from the event loop.
#pragma once

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/pod_source.h"

namespace numapin {

// Initializes libcurl's global state; safe to call more than once and from any thread.
void InitCurlOnce();

// Fetches options.kubelet_url with the bearer token read from options.token_file (re-read on
// every call, because projected service account tokens rotate). Returns the response body of a
// 200, or an error naming the URL and the flag or permission to check. Setting *cancel aborts a
// transfer in progress within about a second.
absl::StatusOr<std::string> FetchKubeletPods(const PodSourceOptions& options,
                                             const std::atomic<bool>* cancel);

}  // namespace numapin
