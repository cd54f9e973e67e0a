// Loads the scheduler monitor's skeleton, keeps its maps in step with the daemon's assignments
// and reads back counters and violation events.
#include "bpf/monitor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bpf/load_error.h"
#include "numapin_monitor.skel.h"

namespace numapin::bpf {
namespace {

constexpr int kLogTailLines = 40;

absl::Status MapError(int error, absl::string_view what) {
  int code = error < 0 ? -error : error;
  return absl::InternalError(
      absl::StrCat("scheduler monitor: failed to ", what, ": ", strerror(code)));
}

absl::Status CheckOptions(const MonitorOptions& options) {
  uint32_t size = options.ringbuf_bytes;
  long page = sysconf(_SC_PAGESIZE);
  if (size == 0 || (size & (size - 1)) != 0 || size % page != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ring-buffer size %u is invalid; use a power of two that is a multiple of %d", size, page));
  }
  if (options.max_slots == 0 || options.max_slots >= NUMAPIN_NO_SLOT) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_slots %u is invalid; use 1 or more", options.max_slots));
  }
  if (options.rate_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("rate_interval must be positive");
  }
  return absl::OkStatus();
}

void Configure(numapin_monitor* skeleton, const MonitorOptions& options, AttachType attach) {
  skeleton->rodata->cgroup_mode =
      options.cgroup_mode == CgroupMode::kV1Cpuset ? NUMAPIN_CGROUP_V1_CPUSET : NUMAPIN_CGROUP_V2;
  skeleton->rodata->events_per_interval = options.events_per_interval;
  skeleton->rodata->rate_interval_ns = absl::ToInt64Nanoseconds(options.rate_interval);

  bpf_map__set_max_entries(skeleton->maps.slot_config, options.max_slots);
  bpf_map__set_max_entries(skeleton->maps.cgroup_slots, options.max_slots);
  bpf_map__set_max_entries(skeleton->maps.slot_counters, options.max_slots);
  bpf_map__set_max_entries(skeleton->maps.slot_rate, options.max_slots);
  bpf_map__set_max_entries(skeleton->maps.events, options.ringbuf_bytes);

  bool btf = attach == AttachType::kTpBtf;
  bpf_program__set_autoload(skeleton->progs.sched_switch_btf, btf);
  bpf_program__set_autoload(skeleton->progs.sched_migrate_btf, btf);
  bpf_program__set_autoload(skeleton->progs.sched_switch_raw, !btf);
  bpf_program__set_autoload(skeleton->progs.sched_migrate_raw, !btf);
}

}  // namespace

absl::StatusOr<uint64_t> CgroupIdOfPath(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot stat cgroup directory ", path, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a cgroup directory"));
  }
  return static_cast<uint64_t>(st.st_ino);
}

void Monitor::SkeletonDeleter::operator()(numapin_monitor* skeleton) const {
  numapin_monitor__destroy(skeleton);
}

void Monitor::RingBufferDeleter::operator()(ring_buffer* ring) const { ring_buffer__free(ring); }

Monitor::Monitor(const MonitorOptions& options, AttachType attach_type,
                 std::unique_ptr<numapin_monitor, SkeletonDeleter> skeleton)
    : options_(options),
      attach_type_(attach_type),
      num_cpus_(libbpf_num_possible_cpus()),
      skeleton_(std::move(skeleton)),
      cgroup_of_slot_(options.max_slots, 0) {}

Monitor::~Monitor() = default;

absl::StatusOr<std::unique_ptr<Monitor>> Monitor::Start(const MonitorOptions& options) {
  if (absl::Status status = CheckOptions(options); !status.ok()) return status;
  if (absl::Status status = CheckKernelSupport(); !status.ok()) return status;
  if (options.attach != AttachType::kAuto) return StartWith(options, options.attach);

  // A kernel without BPF trampolines rejects tp_btf but still runs the raw_tp twins. Loading is
  // the probe: libbpf 1.1's libbpf_probe_bpf_prog_type() does not support tracing programs.
  absl::StatusOr<std::unique_ptr<Monitor>> monitor = StartWith(options, AttachType::kTpBtf);
  if (monitor.ok() || absl::IsPermissionDenied(monitor.status())) return monitor;
  return StartWith(options, AttachType::kRawTp);
}

absl::StatusOr<std::unique_ptr<Monitor>> Monitor::StartWith(const MonitorOptions& options,
                                                            AttachType attach_type) {
  LibbpfLogCapture log;
  std::unique_ptr<numapin_monitor, SkeletonDeleter> skeleton(numapin_monitor__open());
  if (!skeleton) return LoadFailure(-errno, "open the BPF object", log.Tail(kLogTailLines));
  Configure(skeleton.get(), options, attach_type);

  if (int error = numapin_monitor__load(skeleton.get()); error != 0) {
    return LoadFailure(error, "load the BPF programs", log.Tail(kLogTailLines));
  }
  std::unique_ptr<Monitor> monitor(new Monitor(options, attach_type, std::move(skeleton)));
  if (absl::Status status = monitor->InitCpus(); !status.ok()) return status;

  ring_buffer* ring = ring_buffer__new(bpf_map__fd(monitor->skeleton_->maps.events),
                                       &Monitor::HandleRecord, monitor.get(), nullptr);
  if (ring == nullptr) return LoadFailure(-errno, "create the ring buffer", log.Tail(5));
  monitor->ring_.reset(ring);

  if (int error = numapin_monitor__attach(monitor->skeleton_.get()); error != 0) {
    return LoadFailure(error, "attach the scheduler tracepoints", log.Tail(kLogTailLines));
  }
  return monitor;
}

absl::Status Monitor::InitCpus() {
  if (num_cpus_ <= 0) return MapError(num_cpus_, "read the possible CPUs");
  for (int cpu = 0; cpu < num_cpus_ && cpu < NUMAPIN_MAX_CPUS; ++cpu) {
    if (absl::Status status = SetCpu(cpu, 0, std::nullopt); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Monitor::SetCpu(int cpu, int numa_node, std::optional<uint32_t> owner_slot) {
  if (cpu < 0 || cpu >= NUMAPIN_MAX_CPUS) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CPU %d is outside the monitor's range 0-%d", cpu, NUMAPIN_MAX_CPUS - 1));
  }
  if (numa_node < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("NUMA node %d of CPU %d is negative", numa_node, cpu));
  }
  if (owner_slot && *owner_slot >= options_.max_slots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "owner slot %u of CPU %d is not below max_slots %u", *owner_slot, cpu, options_.max_slots));
  }
  numapin_cpu_config config{static_cast<__u32>(numa_node), owner_slot.value_or(NUMAPIN_NO_SLOT)};
  __u32 key = cpu;
  if (bpf_map__update_elem(skeleton_->maps.cpu_config, &key, sizeof(key), &config, sizeof(config),
                           BPF_ANY) != 0) {
    return MapError(-errno, absl::StrCat("set CPU ", cpu));
  }
  BumpGeneration();
  return absl::OkStatus();
}

absl::Status Monitor::ResetSlot(uint32_t slot) {
  std::vector<std::byte> zeros(num_cpus_ * PerCpuStride(sizeof(numapin_slot_counters)));
  if (bpf_map__update_elem(skeleton_->maps.slot_counters, &slot, sizeof(slot), zeros.data(),
                           zeros.size(), BPF_ANY) != 0) {
    return MapError(-errno, absl::StrCat("reset the counters of slot ", slot));
  }
  numapin_slot_rate rate{};
  if (bpf_map__update_elem(skeleton_->maps.slot_rate, &slot, sizeof(slot), &rate, sizeof(rate),
                           BPF_ANY) != 0) {
    return MapError(-errno, absl::StrCat("reset the event limit of slot ", slot));
  }
  return absl::OkStatus();
}

// The programs recompute cached cgroup -> slot results and the placement of the running task
// when the generation changes, so the bump must follow the map change it announces.
void Monitor::BumpGeneration() const {
  __atomic_fetch_add(&skeleton_->bss->tracking_generation, 1, __ATOMIC_RELEASE);
}

absl::Status Monitor::TrackCgroup(uint64_t cgroup_id, uint32_t slot, const CpuSet& cpus,
                                  const CpuSet& numa_nodes) {
  if (slot >= options_.max_slots) {
    return absl::InvalidArgumentError(
        absl::StrFormat("slot %u is not below max_slots %u", slot, options_.max_slots));
  }
  if (cgroup_id == 0) return absl::InvalidArgumentError("cgroup id 0 is not a cgroup");
  auto tracked = slot_of_cgroup_.find(cgroup_id);
  if (tracked != slot_of_cgroup_.end() && tracked->second != slot) {
    return absl::FailedPreconditionError(
        absl::StrFormat("cgroup %d is tracked in slot %u; untrack it before using slot %u",
                        cgroup_id, tracked->second, slot));
  }
  if (cgroup_of_slot_[slot] != 0 && cgroup_of_slot_[slot] != cgroup_id) {
    return absl::FailedPreconditionError(
        absl::StrFormat("slot %u holds cgroup %d; untrack it first", slot, cgroup_of_slot_[slot]));
  }
  absl::StatusOr<CpuMask> cpu_mask = BuildCpuMask(cpus);
  if (!cpu_mask.ok()) return cpu_mask.status();
  absl::StatusOr<uint64_t> node_mask = BuildNodeMask(numa_nodes);
  if (!node_mask.ok()) return node_mask.status();

  numapin_slot_config config{};
  config.cgroup_id = cgroup_id;
  std::copy(cpu_mask->begin(), cpu_mask->end(), config.cpus);
  config.numa_nodes = *node_mask;
  if (bpf_map__update_elem(skeleton_->maps.slot_config, &slot, sizeof(slot), &config,
                           sizeof(config), BPF_ANY) != 0) {
    return MapError(-errno, absl::StrCat("set the CPUs of slot ", slot));
  }
  if (tracked != slot_of_cgroup_.end()) {
    BumpGeneration();
    return absl::OkStatus();
  }

  if (absl::Status status = ResetSlot(slot); !status.ok()) return status;
  if (bpf_map__update_elem(skeleton_->maps.cgroup_slots, &cgroup_id, sizeof(cgroup_id), &slot,
                           sizeof(slot), BPF_NOEXIST) != 0) {
    return MapError(-errno, absl::StrCat("track cgroup ", cgroup_id));
  }
  slot_of_cgroup_[cgroup_id] = slot;
  cgroup_of_slot_[slot] = cgroup_id;
  BumpGeneration();
  return absl::OkStatus();
}

absl::Status Monitor::UntrackCgroup(uint64_t cgroup_id) {
  auto tracked = slot_of_cgroup_.find(cgroup_id);
  if (tracked == slot_of_cgroup_.end()) {
    return absl::NotFoundError(absl::StrFormat("cgroup %d is not tracked", cgroup_id));
  }
  if (bpf_map__delete_elem(skeleton_->maps.cgroup_slots, &cgroup_id, sizeof(cgroup_id), 0) != 0) {
    return MapError(-errno, absl::StrCat("untrack cgroup ", cgroup_id));
  }
  cgroup_of_slot_[tracked->second] = 0;
  slot_of_cgroup_.erase(tracked);
  BumpGeneration();
  return absl::OkStatus();
}

absl::StatusOr<CounterSnapshot> Monitor::ReadCounters() const {
  CounterSnapshot snapshot;
  snapshot.slots.resize(options_.max_slots);
  std::vector<std::byte> values(num_cpus_ * PerCpuStride(sizeof(numapin_slot_counters)));
  for (uint32_t slot = 0; slot < options_.max_slots; ++slot) {
    if (bpf_map__lookup_elem(skeleton_->maps.slot_counters, &slot, sizeof(slot), values.data(),
                             values.size(), 0) != 0) {
      return MapError(-errno, absl::StrCat("read the counters of slot ", slot));
    }
    snapshot.slots[slot] = SumSlotCounters(values, num_cpus_);
  }

  values.assign(num_cpus_ * PerCpuStride(sizeof(numapin_cpu_data)), std::byte{0});
  __u32 zero = 0;
  if (bpf_map__lookup_elem(skeleton_->maps.cpu_data, &zero, sizeof(zero), values.data(),
                           values.size(), 0) != 0) {
    return MapError(-errno, "read the per-CPU counters");
  }
  AddCpuCounters(values, num_cpus_, snapshot);
  BumpGeneration();
  return snapshot;
}

int Monitor::event_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

int Monitor::sched_switch_prog_fd() const {
  return bpf_program__fd(attach_type_ == AttachType::kTpBtf ? skeleton_->progs.sched_switch_btf
                                                            : skeleton_->progs.sched_switch_raw);
}

int Monitor::HandleRecord(void* context, void* data, size_t size) {
  auto* monitor = static_cast<Monitor*>(context);
  if (monitor->consumer_ == nullptr || size < sizeof(numapin_event)) return 0;
  numapin_event raw;
  std::memcpy(&raw, data, sizeof(raw));

  ViolationEvent event;
  event.kind = raw.kind == NUMAPIN_VIOLATION_MIGRATE ? ViolationEvent::Kind::kMigrate
                                                     : ViolationEvent::Kind::kSwitchIn;
  event.slot = raw.slot;
  event.cpu = static_cast<int>(raw.cpu);
  event.from_cpu = static_cast<int>(raw.from_cpu);
  event.pid = static_cast<pid_t>(raw.pid);
  event.tgid = static_cast<pid_t>(raw.tgid);
  event.cgroup_id = raw.cgroup_id;
  event.timestamp_ns = raw.timestamp_ns;
  event.comm.assign(raw.comm, strnlen(raw.comm, sizeof(raw.comm)));
  (*monitor->consumer_)(event);
  return 0;
}

absl::StatusOr<int> Monitor::Consume(absl::FunctionRef<void(const ViolationEvent&)> callback) {
  consumer_ = &callback;
  int consumed = ring_buffer__consume(ring_.get());
  consumer_ = nullptr;
  if (consumed < 0) return MapError(consumed, "consume violation events");
  return consumed;
}

}  // namespace numapin::bpf
