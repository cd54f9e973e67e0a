// numapinctl status: /status over HTTP with libcurl, rendered as a per-NUMA-node CPU map.
#include "tools/numapinctl/status.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace numapin::ctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUnreachable = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: numapinctl status [--address=HOST:PORT] [--output=text|json]\n"
    "\n"
    "Prints which container owns each CPU, per NUMA node, and recent violations, from numapind's\n"
    "/status endpoint.\n"
    "\n"
    "  --address   numapind's --metrics-address (default 127.0.0.1:9460)\n"
    "  --output    text (a CPU map) or json (the /status document as served); default text\n";

// Owner codes for the map: one character while there are at most 62 owners, two beyond.
constexpr char kCodeAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr int kCodeCount = sizeof(kCodeAlphabet) - 1;
constexpr int kCpusPerLine = 32;

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

std::string OwnerCode(int index, int width) {
  if (width == 1) return std::string(1, kCodeAlphabet[index % kCodeCount]);
  return {kCodeAlphabet[(index / kCodeCount) % kCodeCount], kCodeAlphabet[index % kCodeCount]};
}

std::string ContainerName(const nlohmann::json& c) {
  return absl::StrCat(c.at("namespace").get<std::string>(), "/", c.at("pod").get<std::string>(),
                      "/", c.at("container").get<std::string>());
}

std::string HeaderLine(const nlohmann::json& status, absl::Time now) {
  const nlohmann::json& ready = status.at("ready");
  std::vector<std::string> missing;
  if (!ready.at("topology_loaded").get<bool>()) missing.push_back("topology not loaded");
  if (!ready.at("checkpoint_loaded").get<bool>()) missing.push_back("checkpoint not loaded");
  if (!ready.at("first_sync_done").get<bool>()) missing.push_back("first pod sync not done");

  int64_t taken = status.at("taken_unix_nanos").get<int64_t>();
  std::string age = "no snapshot yet";
  if (taken != 0) {
    absl::Duration elapsed = absl::Trunc(now - absl::FromUnixNanos(taken), absl::Seconds(1));
    // absl::FormatDuration writes a zero duration as "0", without a unit.
    age = absl::StrCat("snapshot ",
                       elapsed == absl::ZeroDuration() ? "0s" : absl::FormatDuration(elapsed),
                       " old");
  }
  // numapind runs without a node name when neither --node-name nor NODE_NAME is set.
  const std::string node = status.at("node").get<std::string>();
  return absl::StrCat(
      node.empty() ? "numapind: " : absl::StrCat("numapind on ", node, ": "),
      status.at("mode").get<std::string>(), " mode, ", age, ", ",
      missing.empty() ? "ready" : absl::StrCat("not ready (", absl::StrJoin(missing, ", "), ")"),
      ", BPF monitor ", status.at("monitor_up").get<bool>() ? "up" : "down", "\n");
}

// Writes the codes of exclusive owners with their containers, after the reserved and shared
// symbols.
void WriteLegend(const nlohmann::json& containers, const std::map<int, int>& code_of_container,
                 int width, std::string& text) {
  int shared_containers = 0;
  for (const nlohmann::json& c : containers) {
    if (!c.at("exclusive").get<bool>()) ++shared_containers;
  }
  absl::StrAppend(&text, "\n  ", std::string(width, '#'), "  reserved CPU\n  ",
                  std::string(width, '.'), "  shared pool (", shared_containers,
                  shared_containers == 1 ? " container)\n" : " containers)\n");
  std::vector<std::pair<int, int>> legend;  // Owner number, container index.
  for (const auto& [container, code] : code_of_container) legend.emplace_back(code, container);
  std::sort(legend.begin(), legend.end());
  for (const auto& [code, container] : legend) {
    if (container >= static_cast<int>(containers.size())) continue;
    const nlohmann::json& c = containers[container];
    absl::StrAppend(
        &text, "  ", OwnerCode(code, width), "  ",
        absl::StrFormat("%-50s CPUs %s", ContainerName(c), c.at("cpus").get<std::string>()),
        c.at("pin_conflict").get<bool>() ? "  (pin conflict: re-pinning backed off)" : "", "\n");
  }
}

// Writes one row per NUMA node, one cell per CPU, then the legend.
void WriteMap(const nlohmann::json& status, std::string& text) {
  const nlohmann::json& containers = status.at("containers");
  std::map<int, std::vector<const nlohmann::json*>> cpus_by_node;
  std::map<int, int> code_of_container;  // Container index to owner number, by first CPU.
  for (const nlohmann::json& cpu : status.at("cpus")) {
    cpus_by_node[cpu.at("numa_node").get<int>()].push_back(&cpu);
    int owner = cpu.at("owner_container").get<int>();
    if (cpu.at("owner").get<std::string>() == "exclusive" && owner >= 0) {
      code_of_container.emplace(owner, static_cast<int>(code_of_container.size()));
    }
  }
  const int width = code_of_container.size() <= static_cast<size_t>(kCodeCount) ? 1 : 2;

  for (const auto& [node, cpus] : cpus_by_node) {
    absl::StrAppend(&text, "\nNUMA node ", node, "\n");
    for (size_t i = 0; i < cpus.size(); ++i) {
      const nlohmann::json& cpu = *cpus[i];
      if (i % kCpusPerLine == 0) {
        absl::StrAppend(&text, i == 0 ? "" : "\n",
                        absl::StrFormat("  %5d ", cpu.at("cpu").get<int>()));
      }
      const std::string owner = cpu.at("owner").get<std::string>();
      std::string cell = owner == "reserved" ? std::string(width, '#') : std::string(width, '.');
      auto code = code_of_container.find(cpu.at("owner_container").get<int>());
      if (owner == "exclusive" && code != code_of_container.end()) {
        cell = OwnerCode(code->second, width);
      }
      absl::StrAppend(&text, " ", cell);
    }
    absl::StrAppend(&text, "\n");
  }
  WriteLegend(containers, code_of_container, width, text);
}

void WriteUnpinned(const nlohmann::json& status, std::string& text) {
  std::string lines;
  for (const nlohmann::json& c : status.at("containers")) {
    const std::string error = c.at("error").get<std::string>();
    if (!error.empty()) absl::StrAppend(&lines, "  ", ContainerName(c), ": ", error, "\n");
  }
  if (!lines.empty()) {
    absl::StrAppend(&text, "\nIn the shared pool although they asked for exclusive CPUs:\n", lines);
  }
}

void WriteViolations(const nlohmann::json& status, std::string& text) {
  const nlohmann::json& violations = status.at("recent_violations");
  if (violations.empty()) {
    absl::StrAppend(&text, "\nNo recent violations.\n");
    return;
  }
  absl::StrAppend(&text, "\nRecent violations (newest last, UTC):\n");
  for (const nlohmann::json& v : violations) {
    absl::Time when = absl::FromUnixNanos(v.at("unix_nanos").get<int64_t>());
    std::string who = v.at("pod").get<std::string>().empty()
                          ? "host task"
                          : absl::StrCat(v.at("pod").get<std::string>(), "/",
                                         v.at("container").get<std::string>());
    absl::StrAppend(
        &text, "  ", absl::FormatTime("%H:%M:%S", when, absl::UTCTimeZone()), "  ",
        absl::StrFormat("%-10s %-40s CPU %-4d pid %-7d %-16s %s", v.at("kind").get<std::string>(),
                        who, v.at("cpu").get<int>(), v.at("pid").get<int>(),
                        v.at("comm").get<std::string>(), v.at("detail").get<std::string>()),
        "\n");
  }
}

}  // namespace

absl::StatusOr<nlohmann::json> FetchStatus(const std::string& address, absl::Duration timeout) {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");

  const std::string url = absl::StrCat("http://", address, "/status");
  std::string body;
  char detail[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, detail);

  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK) {
    long os_errno = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_OS_ERRNO, &os_errno);
    std::string reason = os_errno != 0 ? std::strerror(static_cast<int>(os_errno))
                                       : (detail[0] != '\0' ? detail : curl_easy_strerror(code));
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return absl::UnavailableError(absl::StrCat("cannot reach numapind at ", address, ": ", reason,
                                               "; is it running with --metrics-address?"));
  }
  long http_status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", url, " returned HTTP ", http_status, "; is ",
                                               address, " numapind's --metrics-address?"));
  }
  nlohmann::json status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_discarded() || !status.is_object()) {
    return absl::DataLossError(absl::StrCat("GET ", url, " did not return a JSON object"));
  }
  return status;
}

absl::StatusOr<std::string> StatusText(const nlohmann::json& status, absl::Time now) {
  try {
    std::string text = HeaderLine(status, now);
    WriteMap(status, text);
    WriteUnpinned(status, text);
    WriteViolations(status, text);
    return text;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("unexpected /status document (", e.what(),
                                            "); are numapinctl and numapind the same version?"));
  }
}

int RunStatus(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string address = "127.0.0.1:9460";
  std::string output = "text";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return kExitOk;
    }
    size_t equals = arg.find('=');
    std::string name = arg.substr(0, equals);
    std::string* target = nullptr;
    if (name == "--address") target = &address;
    if (name == "--output") target = &output;
    if (target == nullptr) {
      err << "numapinctl status: unknown argument \"" << arg << "\"\n\n" << kUsage;
      return kExitUsage;
    }
    if (equals != std::string::npos) {
      *target = arg.substr(equals + 1);
    } else if (i + 1 < args.size()) {
      *target = args[++i];
    } else {
      err << "numapinctl status: " << name << " needs a value\n\n" << kUsage;
      return kExitUsage;
    }
  }
  if (output != "text" && output != "json") {
    err << "numapinctl status: invalid --output \"" << output << "\": expected text or json\n";
    return kExitUsage;
  }

  absl::StatusOr<nlohmann::json> status = FetchStatus(address, absl::Seconds(5));
  if (!status.ok()) {
    err << "numapinctl status: " << status.status().message() << "\n";
    return kExitUnreachable;
  }
  if (output == "json") {
    out << status->dump(2) << "\n";
    return kExitOk;
  }
  absl::StatusOr<std::string> text = StatusText(*status, absl::Now());
  if (!text.ok()) {
    err << "numapinctl status: " << text.status().message() << "\n";
    return kExitUnreachable;
  }
  out << *text;
  return kExitOk;
}

int RunStatus(int argc, char** argv) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  return RunStatus(args, std::cout, std::cerr);
}

}  // namespace numapin::ctl
