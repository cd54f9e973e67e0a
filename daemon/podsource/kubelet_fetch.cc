// FetchKubeletPods: libcurl GET of the kubelet /pods endpoint, with errors mapped to what an
// operator should check (token, RBAC, CA file, URL).
#include "daemon/podsource/kubelet_fetch.h"

#include <curl/curl.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

// A kubelet with a few hundred pods returns a few MB; this bounds memory if the URL points
// at something that streams without end.
constexpr size_t kMaxBodyBytes = 64 << 20;
constexpr size_t kMaxErrorBodyBytes = 200;
// Projected service account tokens are about 1 KB; a larger file is not a token.
constexpr std::streamsize kMaxTokenBytes = 64 << 10;

struct Transfer {
  std::string body;
  bool too_large = false;
  const std::atomic<bool>* cancel = nullptr;
};

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  size_t bytes = size * count;
  if (transfer->body.size() + bytes > kMaxBodyBytes) {
    transfer->too_large = true;
    return 0;  // Makes libcurl fail the transfer with CURLE_WRITE_ERROR.
  }
  transfer->body.append(data, bytes);
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  return transfer->cancel != nullptr && transfer->cancel->load() ? 1 : 0;
}

// Reads the token. The error names the file but never the content.
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the kubelet bearer token file ",
                                                      path, "; check --kubelet-token-file"));
  }
  std::string token(kMaxTokenBytes + 1, '\0');
  in.read(token.data(), kMaxTokenBytes + 1);
  token.resize(in.gcount());
  if (static_cast<std::streamsize>(token.size()) > kMaxTokenBytes) {
    return absl::FailedPreconditionError(absl::StrCat("kubelet bearer token file ", path,
                                                      " is larger than 64 KiB; is it a token? "
                                                      "check --kubelet-token-file"));
  }
  absl::StripAsciiWhitespace(&token);
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("kubelet bearer token file ", path, " is empty; check --kubelet-token-file"));
  }
  return token;
}

absl::Status CurlError(CURLcode code, const char* detail, const Transfer& transfer,
                       const PodSourceOptions& options) {
  const std::string& url = options.kubelet_url;
  std::string what = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(
          absl::StrCat("GET ", url, " timed out (connect timeout ",
                       absl::FormatDuration(options.connect_timeout), ", total ",
                       absl::FormatDuration(options.request_timeout), "): ", what,
                       "; is the kubelet up and --kubelet-url right?"));
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return absl::UnavailableError(absl::StrCat("cannot connect to ", url, ": ", what,
                                                 "; is the kubelet up and --kubelet-url right?"));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      return absl::UnavailableError(absl::StrCat(
          "TLS verification of ", url, " failed: ", what,
          "; check --kubelet-ca-file (the CA that signed the kubelet's serving certificate), or "
          "set --kubelet-insecure-skip-tls-verify for a self-signed kubelet certificate"));
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError(absl::StrCat("GET ", url, " cancelled: the pod source stopped"));
    case CURLE_WRITE_ERROR:
      if (transfer.too_large) {
        return absl::ResourceExhaustedError(
            absl::StrCat("response from ", url, " is larger than 64 MiB; check --kubelet-url"));
      }
      [[fallthrough]];
    default:
      return absl::UnavailableError(absl::StrCat("GET ", url, " failed: ", what));
  }
}

absl::Status HttpStatusError(long status, const std::string& body, const std::string& url) {
  if (status == 401) {
    return absl::UnauthenticatedError(absl::StrCat(
        "401 Unauthorized from ", url, ": check --kubelet-token-file and RBAC nodes/proxy"));
  }
  if (status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(
        "403 Forbidden from ", url,
        ": the token's service account needs RBAC get on nodes/proxy (and nodes/pods)"));
  }
  std::string excerpt = body.substr(0, kMaxErrorBodyBytes);
  absl::StripAsciiWhitespace(&excerpt);
  return absl::UnavailableError(absl::StrCat("HTTP ", status, " from ", url, ": ",
                                             excerpt.empty() ? "(empty body)" : excerpt));
}

void ConfigureTls(CURL* curl, const PodSourceOptions& options) {
  if (options.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!options.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  }
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<std::string> FetchKubeletPods(const PodSourceOptions& options,
                                             const std::atomic<bool>* cancel) {
  InitCurlOnce();
  absl::StatusOr<std::string> token = ReadToken(options.token_file);
  if (!token.ok()) return token.status();

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string authorization = absl::StrCat("Authorization: Bearer ", *token);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, authorization.c_str()), curl_slist_free_all);
  headers.reset(curl_slist_append(headers.release(), "Accept: application/json"));

  Transfer transfer;
  transfer.cancel = cancel;
  char detail[CURL_ERROR_SIZE] = "";
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, options.kubelet_url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // libcurl would otherwise use SIGALRM for DNS timeouts, which is unsafe in threads.
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.connect_timeout)));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.request_timeout)));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, detail);
  ConfigureTls(handle, options);

  CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) return CurlError(code, detail, transfer, options);

  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return HttpStatusError(status, transfer.body, options.kubelet_url);
  return std::move(transfer.body);
}

}  // namespace numapin
