// Daemon set-up and the epoll loop: which handler runs for which file descriptor.
#include "daemon/core/daemon.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

// Names the capabilities the monitor needs that this process lacks, such as
// "CAP_BPF and CAP_PERFMON", or returns "" when it has them. libbpf reports a missing
// CAP_BPF as a kernel without the BPF ring buffer, so the monitor's error alone misleads.
std::string MissingMonitorCapabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t effective = 0;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) effective = std::stoull(line.substr(7), nullptr, 16);
  }
  // Bit numbers from linux/capability.h. The kernel's bpf_capable() and perfmon_capable() also
  // accept CAP_SYS_ADMIN.
  constexpr int kSysAdmin = 21, kPerfmon = 38, kBpf = 39;
  auto held = [&](int bit) { return (effective >> bit & 1) || (effective >> kSysAdmin & 1); };
  std::string missing;
  if (!held(kBpf)) missing = "CAP_BPF";
  if (!held(kPerfmon)) absl::StrAppend(&missing, missing.empty() ? "" : " and ", "CAP_PERFMON");
  return missing;
}

// The monitor's start failure, led by the missing capabilities when there are any.
std::string MonitorFailure(const absl::Status& status) {
  const std::string missing = MissingMonitorCapabilities();
  if (missing.empty()) return std::string(status.message());
  return absl::StrCat("numapind lacks ", missing,
                      " (add to the container's securityContext.capabilities); ", status.message());
}

absl::StatusOr<std::string> ReadMountInfo() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::InternalError("opening /proc/self/mountinfo failed");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status AddToEpoll(int epoll_fd, int fd) {
  struct epoll_event event = {};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::InternalError(
        absl::StrCat("epoll_ctl ADD of fd ", fd, " failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void BlockDaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Daemon::Daemon(DaemonOptions options, std::unique_ptr<PodSource> source, SnapshotBox* box)
    : options_(std::move(options)),
      source_(std::move(source)),
      box_(box),
      checkpoint_(options_.state_dir) {
  for (HistogramState* histogram : {&stats_.pin_latency, &stats_.repair_latency}) {
    histogram->upper_bounds = LatencyBuckets();
    histogram->counts.assign(histogram->upper_bounds.size(), 0);
  }
}

Daemon::~Daemon() {
  for (int fd : {epoll_fd_, timer_fd_, signal_fd_, state_watch_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Create(DaemonOptions options,
                                                       std::unique_ptr<PodSource> source,
                                                       SnapshotBox* box,
                                                       std::unique_ptr<SchedMonitor> monitor) {
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(options), std::move(source), box));
  absl::Status status = daemon->Init(std::move(monitor));
  if (!status.ok()) return status;
  return daemon;
}

absl::Status Daemon::Init(std::unique_ptr<SchedMonitor> monitor) {
  absl::StatusOr<Topology> topology = LoadTopology(options_.topology);
  if (!topology.ok()) return topology.status();
  topology_ = *std::move(topology);
  log::Info("Loaded topology", {{"source", options_.topology},
                                {"cpus", topology_.assignable_cpus().ToString()},
                                {"numa_nodes", topology_.NodeIds().ToString()}});
  if (options_.mode == DaemonMode::kAllocate) {
    absl::StatusOr<NodeAllocator> allocator = NodeAllocator::Create(topology_, options_.allocator);
    if (!allocator.ok()) return allocator.status();
    allocator_.emplace(*std::move(allocator));
  }

  if (options_.mode == DaemonMode::kAllocate) {
    // Without a writable checkpoint a restart would lose every assignment.
    absl::Status writable = checkpoint_.CheckWritable();
    if (!writable.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          writable.message(), "; set --state-dir to a writable directory (the DaemonSet mounts ",
          "/var/lib/numapin)"));
    }
    absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(options_.state_dir);
    if (!lock.ok()) return lock.status();
    state_lock_.emplace(*std::move(lock));
  }
  absl::Status status = InitCgroups();
  if (!status.ok()) return status;
  if (options_.mode == DaemonMode::kAllocate) InitCheckpoint();
  checkpoint_loaded_ = true;
  status = InitMonitor(std::move(monitor));
  if (!status.ok()) return status;
  status = InitLoopFds();
  if (!status.ok()) return status;
  if (options_.mode == DaemonMode::kObserve) ReadCpuManagerState();
  Publish();
  return absl::OkStatus();
}

absl::Status Daemon::InitCgroups() {
  absl::StatusOr<std::string> mountinfo = ReadMountInfo();
  if (!mountinfo.ok()) return mountinfo.status();
  absl::StatusOr<CgroupLayout> layout = DetectLayout(options_.cgroup_root, *mountinfo);
  if (!layout.ok()) return layout.status();
  layout_ = *layout;
  absl::StatusOr<std::unique_ptr<CgroupFiles>> files = OpenCgroupFiles(layout_.cpuset_root);
  if (!files.ok()) return files.status();
  cpuset_files_ = *std::move(files);
  if (!layout_.cpu_root.empty()) {
    files = OpenCgroupFiles(layout_.cpu_root);
    if (files.ok()) cpu_files_ = *std::move(files);
  }
  absl::StatusOr<std::unique_ptr<CgroupWatcher>> watcher =
      CgroupWatcher::Create(layout_.cpuset_root, layout_.kubepods);
  if (!watcher.ok()) return watcher.status();
  watcher_ = *std::move(watcher);

  ReconcilerConfig config;
  config.layout = layout_;
  config.assignable_cpus = topology_.assignable_cpus();
  config.all_mems = topology_.NodesWithMemory();
  if (config.all_mems.Empty()) config.all_mems = topology_.NodeIds();
  config.manage_mems = options_.ManageMems();
  config.writes = options_.Writes();
  config.observe = options_.mode == DaemonMode::kObserve;
  config.exclusive_cfs_quota = options_.exclusive_cfs_quota;
  reconciler_ =
      std::make_unique<Reconciler>(config, cpuset_files_.get(), cpu_files_.get(), &stats_);
  if (options_.exclusive_cfs_quota == CfsQuotaPolicy::kUnlimited && cpu_files_ == nullptr) {
    log::Warning(
        "No cpu controller hierarchy with kubepods; --exclusive-cfs-quota=unlimited "
        "has no effect",
        {{"cgroup_root", options_.cgroup_root}});
  }
  log::Info("Found kubepods cgroups", {{"version", CgroupVersionName(layout_.version)},
                                       {"driver", CgroupDriverName(layout_.driver)},
                                       {"cpuset_root", layout_.cpuset_root},
                                       {"cpu_root", layout_.cpu_root},
                                       {"watches", watcher_->watch_count()}});
  return absl::OkStatus();
}

void Daemon::InitCheckpoint() {
  absl::StatusOr<CheckpointData> data = checkpoint_.Load();
  if (data.ok()) {
    checkpoint_generation_ = data->generation;
    log::Info("Loaded checkpoint", {{"path", checkpoint_.path()},
                                    {"assignments", data->entries.size()},
                                    {"generation", data->generation}});
    loaded_checkpoint_ = *std::move(data);
    return;
  }
  if (absl::IsNotFound(data.status())) {
    log::Info("No checkpoint yet; starting without assignments", {{"path", checkpoint_.path()}});
    return;
  }
  rebuild_from_cgroups_ = true;
  absl::StatusOr<std::string> aside = checkpoint_.MoveAside(absl::Now());
  log::Error("Checkpoint is unreadable; rebuilding assignments from the live cgroups and pods",
             {{"path", checkpoint_.path()},
              {"error", data.status()},
              {"moved_to", aside.ok() ? *aside : aside.status().ToString()}});
}

absl::Status Daemon::InitMonitor(std::unique_ptr<SchedMonitor> monitor) {
  if (monitor == nullptr && options_.monitor != Tristate::kOff) {
    absl::StatusOr<std::unique_ptr<SchedMonitor>> started =
        StartBpfMonitor(layout_.version == CgroupVersion::kV1);
    if (started.ok()) {
      monitor = *std::move(started);
    } else if (options_.monitor == Tristate::kOn) {
      return absl::FailedPreconditionError(
          absl::StrCat("--monitor=on but the eBPF scheduler monitor failed to start: ",
                       MonitorFailure(started.status()), "; use --monitor=auto to run without it"));
    } else {
      log::Warning("Running without the eBPF scheduler monitor",
                   {{"error", MonitorFailure(started.status())}});
    }
  }
  monitor_ = std::move(monitor);
  if (monitor_ == nullptr) return absl::OkStatus();
  for (uint32_t slot = monitor_->max_slots(); slot-- > 0;) free_slots_.push_back(slot);
  log::Info("Started the eBPF scheduler monitor", {{"slots", monitor_->max_slots()}});
  return absl::OkStatus();
}

absl::Status Daemon::InitLoopFds() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  signal_fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (epoll_fd_ < 0 || timer_fd_ < 0 || signal_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("creating loop descriptors failed: ", std::strerror(errno)));
  }
  const int64_t nanos = absl::ToInt64Nanoseconds(options_.readback_interval);
  struct itimerspec spec = {};
  spec.it_interval.tv_sec = nanos / 1000000000;
  spec.it_interval.tv_nsec = nanos % 1000000000;
  spec.it_value = spec.it_interval;
  timerfd_settime(timer_fd_, 0, &spec, nullptr);

  std::vector<int> fds = {timer_fd_, signal_fd_, watcher_->fd(), source_->fd()};
  if (monitor_ != nullptr) fds.push_back(monitor_->event_fd());
  if (options_.mode == DaemonMode::kObserve) {
    // The kubelet replaces the file by rename, so the directory is watched, not the file.
    state_watch_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    std::string dir = DirName(options_.cpu_manager_state);
    if (inotify_add_watch(state_watch_fd_, dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) <
        0) {
      log::Warning("Watching the cpu_manager_state directory failed; re-reading it on SIGHUP only",
                   {{"dir", dir}, {"error", std::strerror(errno)}});
    }
    fds.push_back(state_watch_fd_);
  }
  for (int fd : fds) {
    absl::Status status = AddToEpoll(epoll_fd_, fd);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Daemon::Run() {
  log::Info("Started numapind",
            {{"mode", options_.mode == DaemonMode::kAllocate ? "allocate" : "observe"},
             {"pod_source", source_->name()},
             {"node", options_.node_name},
             {"monitor", monitor_ != nullptr ? "up" : "down"}});
  source_->RequestRefresh();
  while (!stopping_) {
    struct epoll_event events[16];
    int n = epoll_wait(epoll_fd_, events, 16, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat("epoll_wait failed: ", std::strerror(errno)));
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == signal_fd_) {
        struct signalfd_siginfo info;
        while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
          if (info.ssi_signo == SIGHUP) {
            OnReload();
          } else {
            log::Info("Stopping numapind", {{"signal", strsignal(info.ssi_signo)}});
            stopping_ = true;
          }
        }
      } else if (fd == timer_fd_) {
        uint64_t expirations;
        while (read(timer_fd_, &expirations, sizeof(expirations)) > 0) {
        }
        OnTimer();
      } else if (fd == watcher_->fd()) {
        OnCgroupEvents();
      } else if (fd == source_->fd()) {
        OnPodSource();
      } else if (monitor_ != nullptr && fd == monitor_->event_fd()) {
        OnMonitorEvents();
      } else if (fd == state_watch_fd_) {
        OnCpuManagerStateChange();
      }
    }
  }
  if (options_.mode == DaemonMode::kAllocate && first_sync_done_) SaveCheckpoint();
  log::Info("Stopped numapind", {{"containers", containers_.size()}});
  return absl::OkStatus();
}

void Daemon::LocateAll() {
  CheckKubepodsTree();
  for (auto& [key, container] : containers_) {
    if (!reconciler_->Locate(container)) continue;
    auto seen = unnamed_cgroups_.find(container.cgroup_dir);
    if (seen == unnamed_cgroups_.end()) continue;
    if (container.cgroup_seen == absl::InfinitePast()) container.cgroup_seen = seen->second;
    unnamed_cgroups_.erase(seen);
  }
  SyncMonitor();
}

// Logs once when the kubepods cgroup disappears and once when it is back. inotify dropped the
// watches of the removed directories, so the tree is watched again when it returns.
void Daemon::CheckKubepodsTree() {
  const bool present = cpuset_files_->IsDirectory(layout_.kubepods);
  if (present != kubepods_missing_) return;
  kubepods_missing_ = !present;
  const std::string path = absl::StrCat(layout_.cpuset_root, "/", layout_.kubepods);
  if (!present) {
    log::Error("Kubepods cgroup vanished; no container is pinned until it is back",
               {{"cgroup", path}});
    return;
  }
  log::Info("Kubepods cgroup is back; watching it again", {{"cgroup", path}});
  watcher_->Rescan();
}

void Daemon::ReconcileAll(Trigger trigger) {
  if (options_.mode == DaemonMode::kObserve && !cpu_manager_state_valid_) return;
  std::vector<ManagedContainer*> scope;
  scope.reserve(containers_.size());
  for (auto& [key, container] : containers_) {
    if (!container.terminated) scope.push_back(&container);
  }
  reconciler_->Run(scope, ExclusiveCpus(), trigger);
  if (trigger == Trigger::kReadback) reconciler_->CloseUnreadFiles();
}

void Daemon::ScanForUnknownCgroups() {
  std::vector<std::string> levels = {layout_.kubepods};
  for (const std::string& qos : QosCgroupPaths(layout_)) levels.push_back(qos);
  for (const std::string& level : levels) {
    absl::StatusOr<std::vector<std::string>> names = cpuset_files_->ListDirectories(level);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      std::optional<std::string> uid = PodUidFromDirName(name);
      if (!uid.has_value() || pods_.count(*uid)) continue;
      std::string dir = absl::StrCat(level, "/", name);
      if (unknown_cgroups_logged_.insert(dir).second) {
        log::Info("Leaving alone a pod cgroup that belongs to no known pod", {{"cgroup", dir}});
      }
    }
  }
}

CpuSet Daemon::ExclusiveCpus() const {
  if (allocator_.has_value()) return allocator_->ExclusiveCpus();
  CpuSet exclusive;
  if (cpu_manager_state_.has_value()) {
    for (const auto& [uid, entries] : cpu_manager_state_->entries) {
      for (const auto& [name, cpus] : entries) exclusive |= cpus;
    }
  }
  return exclusive;
}

CpuSet Daemon::SharedPool() const {
  if (allocator_.has_value()) return allocator_->SharedPool();
  if (cpu_manager_state_.has_value()) return cpu_manager_state_->default_cpuset;
  return topology_.assignable_cpus();
}

}  // namespace numapin
