// numapind's command-line flags (absl flags) and their translation into DaemonOptions.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/core/options.h"
#include "numapin_version.h"

ABSL_FLAG(std::string, mode, "allocate",
          "allocate: numapind assigns exclusive CPUs and writes cpusets; observe: it reads the "
          "kubelet's cpu_manager_state and only reports drift");
ABSL_FLAG(bool, repair, false, "observe mode: re-pin cgroups that drift from cpu_manager_state");
ABSL_FLAG(std::string, pod_source, "kubelet", "where pods come from: kubelet or dir:PATH");
ABSL_FLAG(std::string, kubelet_url, "https://127.0.0.1:10250/pods", "the kubelet's /pods URL");
ABSL_FLAG(std::string, kubelet_token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token",
          "bearer token file for the kubelet");
ABSL_FLAG(std::string, kubelet_ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
          "CA bundle that signed the kubelet's serving certificate");
ABSL_FLAG(bool, kubelet_insecure_skip_tls_verify, false,
          "do not verify the kubelet's certificate (test clusters only)");
ABSL_FLAG(absl::Duration, kubelet_poll_interval, absl::Seconds(5),
          "time between /pods reads, a duration with a unit such as 5s or 500ms");
ABSL_FLAG(std::string, cgroup_root, "/sys/fs/cgroup",
          "directory that contains kubepods or kubepods.slice, or the parent of the hierarchies");
ABSL_FLAG(std::string, topology, "host", "host, xml:PATH or synthetic:DESCRIPTION (hwloc)");
ABSL_FLAG(std::string, reserved_cpus, "", "CPUs never made exclusive, in kernel list format");
ABSL_FLAG(bool, strict_cpu_reservation, false, "keep reserved CPUs out of the shared pool too");
ABSL_FLAG(bool, full_pcpus_only, false, "assign whole cores only");
ABSL_FLAG(int, sharing_budget_percent, numapin::AllocatorOptions().sharing_budget_percent,
          "max percentage of the live exclusive containers of 2+ CPUs that may have shared a "
          "physical core, spent when sparing SMT siblings would reject a container and when the "
          "node is nearly full (0 to 100; 0 for neither)");
ABSL_FLAG(int, nearly_full_percent, numapin::AllocatorOptions().nearly_full_percent,
          "once at most this percentage of the exclusive-capable CPUs is free for containers of "
          "2+ CPUs without sharing a core, place containers where they split no whole free core, "
          "within the sharing budget (0 to 100; 0 turns it off)");
ABSL_FLAG(std::string, set_mems, "auto",
          "write cpuset.mems of exclusive containers: auto (on in allocate mode with "
          "--topology=host), on, off");
ABSL_FLAG(std::string, exclusive_cfs_quota, "keep",
          "keep the CFS quota of exclusive containers, or unlimited to lift it");
ABSL_FLAG(std::string, state_dir, "/var/lib/numapin", "directory of the assignment checkpoint");
ABSL_FLAG(std::string, cpu_manager_state, "/var/lib/kubelet/cpu_manager_state",
          "the kubelet's CPU manager checkpoint, read in observe mode");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9460",
          "host:port of /metrics, /healthz, /readyz and /status");
ABSL_FLAG(std::string, textfile_dir, "", "also write numapin.prom here for node-exporter");
ABSL_FLAG(std::string, node_name, "", "node label of every series (default: $NODE_NAME)");
ABSL_FLAG(std::string, log_format, "text", "text (klog-like key=value) or json");
ABSL_FLAG(absl::Duration, readback_interval, absl::Seconds(1),
          "time between read-backs of every managed cgroup's cpuset, a duration with a unit such "
          "as 1s or 250ms");
ABSL_FLAG(absl::Duration, empty_pod_list_wait, absl::Seconds(30),
          "at start-up, how long an empty first pod list, or one that leaves out checkpointed pods "
          "that still have cgroups, is not trusted, a duration with a unit such as 30s");
ABSL_FLAG(std::string, monitor, "auto",
          "eBPF scheduler monitor: auto (run without it if it fails to load), on, off");
ABSL_FLAG(std::string, dump_state_file, "",
          "write a JSON summary of the daemon's state to this file after every change");

namespace numapin {
namespace {

absl::StatusOr<Tristate> ParseTristate(absl::string_view flag, const std::string& value) {
  if (value == "auto") return Tristate::kAuto;
  if (value == "on") return Tristate::kOn;
  if (value == "off") return Tristate::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", value, " is invalid; expected auto, on or off"));
}

absl::Status ParseModes(DaemonOptions& options) {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "allocate") {
    options.mode = DaemonMode::kAllocate;
  } else if (mode == "observe") {
    options.mode = DaemonMode::kObserve;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode=", mode, " is invalid; expected allocate or observe"));
  }

  const std::string quota = absl::GetFlag(FLAGS_exclusive_cfs_quota);
  if (quota == "keep") {
    options.exclusive_cfs_quota = CfsQuotaPolicy::kKeep;
  } else if (quota == "unlimited") {
    options.exclusive_cfs_quota = CfsQuotaPolicy::kUnlimited;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--exclusive-cfs-quota=", quota, " is invalid; expected keep or unlimited"));
  }

  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format == "text") {
    options.log_format = log::Format::kText;
  } else if (format == "json") {
    options.log_format = log::Format::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log-format=", format, " is invalid; expected text or json"));
  }

  absl::StatusOr<Tristate> mems = ParseTristate("set-mems", absl::GetFlag(FLAGS_set_mems));
  if (!mems.ok()) return mems.status();
  options.set_mems = *mems;
  absl::StatusOr<Tristate> monitor = ParseTristate("monitor", absl::GetFlag(FLAGS_monitor));
  if (!monitor.ok()) return monitor.status();
  options.monitor = *monitor;
  return absl::OkStatus();
}

// absl flags only match names with underscores; numapind documents its flags with dashes
// (--cgroup-root), so the name part of every "--flag[=value]" is rewritten before parsing.
std::vector<std::string> UnderscoreFlagNames(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    std::string& arg = args[i];
    if (arg == "--") break;
    if (!absl::StartsWith(arg, "--")) continue;
    size_t end = std::min(arg.find('='), arg.size());
    std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
  }
  return args;
}

}  // namespace

absl::StatusOr<DaemonOptions> ParseFlags(int argc, char** argv) {
  // absl aborts on a second call, and tests parse more than once.
  static const bool usage_set = [] {
    absl::SetProgramUsageMessage(
        "gives Guaranteed pods exclusive CPUs on one NUMA node and keeps them pinned.\n"
        "Flag names take dashes or underscores: --cgroup-root or --cgroup_root.");
    absl::FlagsUsageConfig config;
    // absl's --help lists only the flags of main()'s file, and numapind's are defined here.
    config.contains_help_flags = [](absl::string_view file) {
      return absl::EndsWith(file, "daemon/core/flags.cc");
    };
    config.contains_helpshort_flags = config.contains_help_flags;
    // absl's own --version text gives the program name and whether absl itself was built with
    // NDEBUG (Debian's was not, so it printed "Debug build"), nothing about numapind's build.
    config.version_string = [] {
      return std::string("numapind " NUMAPIN_VERSION " (revision " NUMAPIN_REVISION ")\n");
    };
    absl::SetFlagsUsageConfig(config);
    return true;
  }();
  (void)usage_set;
  std::vector<std::string> args = UnderscoreFlagNames(argc, argv);
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  if (rest.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument \"", rest[1], "\"; numapind takes flags only"));
  }
  DaemonOptions options;
  absl::Status status = ParseModes(options);
  if (!status.ok()) return status;

  options.repair = absl::GetFlag(FLAGS_repair);
  options.pod_source.spec = absl::GetFlag(FLAGS_pod_source);
  if (options.pod_source.spec != "kubelet" && !absl::StartsWith(options.pod_source.spec, "dir:")) {
    return absl::InvalidArgumentError(absl::StrCat("--pod-source=", options.pod_source.spec,
                                                   " is invalid; expected kubelet or dir:PATH"));
  }
  options.pod_source.kubelet_url = absl::GetFlag(FLAGS_kubelet_url);
  options.pod_source.token_file = absl::GetFlag(FLAGS_kubelet_token_file);
  options.pod_source.ca_file = absl::GetFlag(FLAGS_kubelet_ca_file);
  options.pod_source.insecure_skip_tls_verify =
      absl::GetFlag(FLAGS_kubelet_insecure_skip_tls_verify);
  options.pod_source.poll_interval = absl::GetFlag(FLAGS_kubelet_poll_interval);

  options.cgroup_root = absl::GetFlag(FLAGS_cgroup_root);
  options.topology = absl::GetFlag(FLAGS_topology);
  absl::StatusOr<CpuSet> reserved = CpuSet::Parse(absl::GetFlag(FLAGS_reserved_cpus));
  if (!reserved.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--reserved-cpus is invalid: ", reserved.status().message()));
  }
  options.allocator.reserved_cpus = *reserved;
  options.allocator.strict_cpu_reservation = absl::GetFlag(FLAGS_strict_cpu_reservation);
  options.allocator.full_pcpus_only = absl::GetFlag(FLAGS_full_pcpus_only);
  options.allocator.sharing_budget_percent = absl::GetFlag(FLAGS_sharing_budget_percent);
  options.allocator.nearly_full_percent = absl::GetFlag(FLAGS_nearly_full_percent);
  const std::pair<const char*, int> percentages[] = {
      {"sharing-budget-percent", options.allocator.sharing_budget_percent},
      {"nearly-full-percent", options.allocator.nearly_full_percent},
  };
  for (const auto& [flag, value] : percentages) {
    if (value < 0 || value > 100) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, "=", value, " is invalid; expected a percentage from 0 to 100"));
    }
  }

  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.cpu_manager_state = absl::GetFlag(FLAGS_cpu_manager_state);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.textfile_dir = absl::GetFlag(FLAGS_textfile_dir);
  options.node_name = absl::GetFlag(FLAGS_node_name);
  if (options.node_name.empty() && std::getenv("NODE_NAME") != nullptr) {
    options.node_name = std::getenv("NODE_NAME");
  }

  options.readback_interval = absl::GetFlag(FLAGS_readback_interval);
  if (options.readback_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--readback-interval=", absl::FormatDuration(options.readback_interval),
                     " is invalid; expected a positive duration such as 1s"));
  }
  options.empty_pod_list_wait = absl::GetFlag(FLAGS_empty_pod_list_wait);
  if (options.empty_pod_list_wait < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--empty-pod-list-wait=", absl::FormatDuration(options.empty_pod_list_wait),
        " is invalid; expected a duration of 0s (trust an empty list at once) or more"));
  }
  options.dump_state_file = absl::GetFlag(FLAGS_dump_state_file);
  return options;
}

}  // namespace numapin
