// The reconciler: read each container's cgroup, decide between first pin, shared-pool update,
// drift repair and nothing, then write every change in one ordered pass.
#include "daemon/core/reconciler.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace numapin {
namespace {

bool Matches(const ManagedContainer& container, const CpusetValues& found) {
  return found.cpus == container.cpus &&
         (!container.mems.has_value() || found.mems == *container.mems);
}

std::string ParentDir(const std::string& dir) {
  size_t slash = dir.rfind('/');
  return slash == std::string::npos ? "" : dir.substr(0, slash);
}

std::string MemsText(const std::optional<CpuSet>& mems) {
  return mems.has_value() ? mems->ToString() : "unmanaged";
}

}  // namespace

Reconciler::Reconciler(ReconcilerConfig config, CgroupFiles* cpuset_files, CgroupFiles* cpu_files,
                       EnforcementStats* stats)
    : config_(std::move(config)),
      cpuset_files_(cpuset_files),
      cpu_files_(cpu_files),
      stats_(stats),
      writer_(cpuset_files, config_.layout.version, config_.all_mems),
      readback_(cpuset_files, CpusetReadback::DefaultMaxOpenFiles()) {}

std::string Reconciler::FindPodDir(const std::string& pod_uid, QosClass qos) {
  if (!ValidatePodUid(pod_uid).ok()) return "";
  for (const std::string& dir : PodCgroupCandidates(config_.layout, pod_uid, qos)) {
    if (cpuset_files_->IsDirectory(dir)) return dir;
  }
  return "";
}

bool Reconciler::Locate(ManagedContainer& container) {
  if (container.container_id.empty() || container.located_id == container.container_id) {
    return false;
  }
  std::string pod_dir = FindPodDir(container.pod_uid, container.qos);
  if (pod_dir.empty()) return false;
  ContainerId id{container.runtime, container.container_id};
  for (const std::string& name : ContainerCgroupCandidates(config_.layout, id)) {
    std::string dir = absl::StrCat(pod_dir, "/", name);
    if (!cpuset_files_->IsDirectory(dir)) continue;
    container.cgroup_dir = dir;
    container.located_id = container.container_id;
    absl::StatusOr<uint64_t> inode = cpuset_files_->Inode(dir);
    container.cgroup_id = inode.ok() ? *inode : 0;
    container.pinned = false;
    container.last_drift_found.reset();
    return true;
  }
  return false;
}

std::vector<CpusetTarget> Reconciler::Ancestors(const std::vector<ManagedContainer*>& scope) {
  std::optional<CpuSet> mems;
  if (config_.manage_mems) mems = config_.all_mems;
  std::vector<CpusetTarget> ancestors = {{config_.layout.kubepods, config_.assignable_cpus, mems}};
  for (const std::string& qos : QosCgroupPaths(config_.layout)) {
    if (cpuset_files_->IsDirectory(qos)) ancestors.push_back({qos, config_.assignable_cpus, mems});
  }
  std::set<std::string> pod_dirs;
  for (const ManagedContainer* container : scope) {
    std::string parent = ParentDir(container->cgroup_dir);
    if (parent != config_.layout.kubepods && pod_dirs.insert(parent).second) {
      ancestors.push_back({parent, config_.assignable_cpus, mems});
    }
  }
  return ancestors;
}

Reconciler::Step Reconciler::Classify(ManagedContainer& container, const CpusetValues& found,
                                      const CpuSet& exclusive_cpus, Trigger trigger,
                                      absl::Time now) {
  const bool matches = Matches(container, found);
  if (config_.writes && !config_.observe && !container.pinned) {
    if (!matches) return Step::kFirstPin;
    container.pinned = true;
    container.pinned_cpus = container.cpus;
    return Step::kSkip;
  }
  if (config_.writes && container.pinned && !(container.pinned_cpus == container.cpus)) {
    if (!matches) return Step::kPoolChange;
    container.pinned_cpus = container.cpus;
    return Step::kSkip;
  }
  if (matches) {
    container.pinned = true;
    container.pinned_cpus = container.cpus;
    container.last_drift_found.reset();
    if (container.limiter.OnStable(now)) {
      log::Info("Pin conflict cleared", {{"pod", container.PodKey()},
                                         {"container", container.name},
                                         {"cpus", container.cpus.ToString()}});
    }
    return Step::kSkip;
  }

  const char* kind =
      !container.exclusive && found.cpus.Intersects(exclusive_cpus) ? "shared" : "cpuset";
  const bool new_drift = !container.last_drift_found.has_value() ||
                         !(container.last_drift_found->cpus == found.cpus) ||
                         !(container.last_drift_found->mems == found.mems);
  container.drift_kind = kind;
  if (new_drift) {
    container.last_drift_found = found;
    ++stats_->drift_detected[kind];
    log::Warning("Drift detected", {{"kind", kind},
                                    {"pod", container.PodKey()},
                                    {"container", container.name},
                                    {"expected_cpus", container.cpus.ToString()},
                                    {"found_cpus", found.cpus.ToString()},
                                    {"expected_mems", MemsText(container.mems)},
                                    {"found_mems", found.mems.ToString()}});
    Violation violation;
    violation.unix_nanos = absl::ToUnixNanos(now);
    violation.kind = kind;
    violation.pod = container.PodKey();
    violation.container = container.name;
    violation.detail = absl::StrCat("expected cpus ", container.cpus.ToString(), ", found ",
                                    found.cpus.ToString());
    stats_->AddViolation(std::move(violation));
  }
  if (!config_.writes) return Step::kSkip;

  switch (container.limiter.OnDrift(now)) {
    case RepinLimiter::Verdict::kAllowed:
      return Step::kRepair;
    case RepinLimiter::Verdict::kConflictStarted:
      ++stats_->pin_conflicts;
      log::Warning("Pin conflict: another writer keeps rewriting the cpuset, backing off",
                   {{"pod", container.PodKey()},
                    {"container", container.name},
                    {"expected_cpus", container.cpus.ToString()},
                    {"found_cpus", found.cpus.ToString()},
                    {"backoff", absl::FormatDuration(container.limiter.backoff())},
                    {"hint", "is the kubelet's CPU manager (static policy) also managing it?"}});
      return Step::kSkip;
    case RepinLimiter::Verdict::kBackedOff:
      return Step::kSkip;
  }
  return Step::kSkip;
}

void Reconciler::Record(ManagedContainer& container, Step step, Trigger trigger,
                        const CpusetValues& found, absl::Time started, absl::Time detected) {
  const absl::Time now = absl::Now();
  std::string reason;
  if (step == Step::kFirstPin) {
    reason = container.restored ? "restore" : "new";
    container.restored = false;
    if (container.cgroup_seen != absl::InfinitePast()) {
      stats_->pin_latency.Observe(absl::ToDoubleSeconds(now - container.cgroup_seen));
      container.cgroup_seen = absl::InfinitePast();
    }
  } else if (step == Step::kPoolChange) {
    reason = "pool_change";
  } else {
    reason = trigger == Trigger::kOutside ? "outside" : container.drift_kind;
    const absl::Time since = detected == absl::InfinitePast() ? started : detected;
    stats_->repair_latency.Observe(absl::ToDoubleSeconds(now - since));
  }
  ++stats_->repins[reason];
  container.pinned = true;
  container.pinned_cpus = container.cpus;
  container.last_drift_found.reset();
  log::Info(step == Step::kRepair ? "Re-pinned container" : "Pinned container",
            {{"reason", reason},
             {"pod", container.PodKey()},
             {"container", container.name},
             {"cpus", container.cpus.ToString()},
             {"mems", MemsText(container.mems)},
             {"previous_cpus", found.cpus.ToString()},
             {"exclusive", container.exclusive ? "true" : "false"},
             {"cgroup", container.cgroup_dir}});
}

void Reconciler::LiftQuota(ManagedContainer& container) {
  if (config_.exclusive_cfs_quota != CfsQuotaPolicy::kUnlimited || cpu_files_ == nullptr ||
      !container.exclusive) {
    return;
  }
  std::vector<std::string> dirs = {container.cgroup_dir};
  // The pod cgroup's quota caps its children too. It is lifted only when no container of the
  // pod is left with a quota that the pod limit should keep enforcing.
  if (container.pod_all_exclusive) dirs.push_back(ParentDir(container.cgroup_dir));
  for (const std::string& dir : dirs) {
    absl::StatusOr<bool> changed =
        CpusetWriter::LiftCfsQuota(cpu_files_, config_.layout.version, dir);
    if (!changed.ok()) {
      log::Error("Lifting CFS quota failed", {{"cgroup", dir}, {"error", changed.status()}});
    } else if (*changed) {
      log::Info("Lifted CFS quota", {{"pod", container.PodKey()}, {"cgroup", dir}});
    }
  }
}

void Reconciler::Run(const std::vector<ManagedContainer*>& scope, const CpuSet& exclusive_cpus,
                     Trigger trigger, absl::Time detected) {
  const absl::Time started = absl::Now();
  std::vector<ManagedContainer*> todo;
  std::vector<Step> steps;
  std::vector<CpusetValues> founds;
  std::vector<CpusetTarget> leaves;
  for (ManagedContainer* container : scope) {
    if (container->cgroup_dir.empty()) continue;
    absl::StatusOr<CpusetValues> found = readback_.Read(container->cgroup_dir);
    if (!found.ok()) {
      if (absl::IsNotFound(found.status())) {
        // The container exited and its cgroup went away; a restart is located again. Clearing
        // the directory keeps this line to one per vanished cgroup.
        log::Info("Container cgroup vanished", {{"pod", container->PodKey()},
                                                {"container", container->name},
                                                {"cgroup", container->cgroup_dir}});
        container->cgroup_dir.clear();
        container->located_id.clear();
        continue;
      }
      uint64_t suppressed = 0;
      if (limiter_.Allow(absl::StrCat("read/", container->cgroup_dir), started, &suppressed)) {
        log::Error("Reading cpuset failed", {{"pod", container->PodKey()},
                                             {"container", container->name},
                                             {"error", found.status()},
                                             {"suppressed", suppressed}});
      }
      continue;
    }
    Step step = Classify(*container, *found, exclusive_cpus, trigger, started);
    if (step == Step::kSkip) continue;
    todo.push_back(container);
    steps.push_back(step);
    founds.push_back(*found);
    leaves.push_back({container->cgroup_dir, container->cpus, container->mems});
  }
  if (leaves.empty()) return;

  std::vector<CpusetTarget> ancestors = Ancestors(todo);
  std::vector<CpusetWriteResult> results = writer_.Apply(ancestors, leaves);
  for (size_t i = 0; i < ancestors.size(); ++i) {
    uint64_t suppressed = 0;
    if (!results[i].status.ok() &&
        limiter_.Allow(absl::StrCat("ancestor/", results[i].dir), started, &suppressed)) {
      log::Error(
          "Writing parent cpuset failed",
          {{"cgroup", results[i].dir}, {"error", results[i].status}, {"suppressed", suppressed}});
    }
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    const CpusetWriteResult& result = results[ancestors.size() + i];
    if (!result.status.ok()) {
      uint64_t suppressed = 0;
      if (limiter_.Allow(absl::StrCat("write/", result.dir), started, &suppressed)) {
        log::Error("Writing cpuset failed", {{"pod", todo[i]->PodKey()},
                                             {"container", todo[i]->name},
                                             {"cpus", todo[i]->cpus.ToString()},
                                             {"error", result.status},
                                             {"suppressed", suppressed}});
      }
      continue;
    }
    Record(*todo[i], steps[i], trigger, founds[i], started, detected);
    if (steps[i] == Step::kFirstPin) LiftQuota(*todo[i]);
  }
}

void Reconciler::PinUnknown(const std::string& dir, const CpuSet& shared_pool) {
  if (!config_.writes) return;
  std::optional<CpuSet> mems;
  if (config_.manage_mems) mems = config_.all_mems;
  ManagedContainer placeholder;
  placeholder.cgroup_dir = dir;
  std::vector<CpusetWriteResult> results =
      writer_.Apply(Ancestors({&placeholder}), {{dir, shared_pool, mems}});
  const CpusetWriteResult& result = results.back();
  if (!result.status.ok()) {
    log::Error("Pinning new cgroup to the shared pool failed",
               {{"cgroup", dir}, {"error", result.status}});
  } else if (result.cpus_written) {
    log::Info("Pinned new cgroup to the shared pool until the pod source names it",
              {{"cgroup", dir}, {"cpus", shared_pool.ToString()}});
  }
}

void EnforcementStats::AddViolation(Violation violation) {
  recent_violations.push_back(std::move(violation));
  if (recent_violations.size() > kMaxViolations) {
    recent_violations.erase(recent_violations.begin());
  }
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace numapin
