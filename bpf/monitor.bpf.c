// SPDX-License-Identifier: GPL-2.0
/* Scheduler monitor: accounts, per tracked container and per CPU, where tasks ran against where
 * they were meant to run, and sends a ring-buffer event when a tracked task runs outside its
 * CPUs. Each hook has a tp_btf and a raw_tp entry point sharing one body; userspace loads one. */
// clang-format off: vmlinux.h must precede the libbpf headers, which use its types.
#include "vmlinux.h"
// clang-format on

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "monitor_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* include/linux/sched.h; both values are unchanged since Linux 4.11. */
#define PF_IDLE 0x00000002
#define PF_KTHREAD 0x00200000
/* include/uapi/linux/sched.h */
#define SCHED_NORMAL 0
#define SCHED_BATCH 3
#define SCHED_IDLE 5

enum task_class { CLASS_IDLE, CLASS_KTHREAD, CLASS_HOST, CLASS_TRACKED };

const volatile __u32 cgroup_mode = NUMAPIN_CGROUP_V2;
const volatile __u32 events_per_interval = 64;
const volatile __u64 rate_interval_ns = 1000000000ull;

/* Bumped by userspace after each change of cgroup_slots; cache entries of an older generation
 * are stale. */
volatile __u32 tracking_generation;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, NUMAPIN_MAX_CPUS);
  __type(key, __u32);
  __type(value, struct numapin_cpu_config);
} cpu_config SEC(".maps");

/* max_entries of the slot maps is set by userspace before load. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct numapin_slot_config);
} slot_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u64);
  __type(value, __u32);
} cgroup_slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct numapin_slot_counters);
} slot_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct numapin_slot_rate);
} slot_rate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct numapin_cpu_data);
} cpu_data SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Linux before 6.0 kept ancestor ids instead of ancestor pointers in struct cgroup. */
struct cgroup___pre60 {
  int level;
  u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/* Linux before 5.16 kept the task's CPU in task_struct rather than in thread_info. */
struct task_struct___pre516 {
  unsigned int cpu;
} __attribute__((preserve_access_index));

/* Hot-path reads take `btf`: true in tp_btf programs, whose task pointers the verifier lets
 * them dereference directly (still relocated by CO-RE through preserve_access_index), which
 * costs a load instead of a bpf_probe_read_kernel call. raw_tp programs use BPF_CORE_READ. */
static __always_inline struct css_set* task_css_set(struct task_struct* task, bool btf) {
  return btf ? task->cgroups : BPF_CORE_READ(task, cgroups);
}

/* The cgroup that identifies a container: in the v2 hierarchy, or in the v1 cpuset one. */
static __always_inline struct cgroup* css_set_cgroup(struct css_set* cset) {
  if (cgroup_mode == NUMAPIN_CGROUP_V1_CPUSET) {
    if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, cpuset_cgrp_id)) return NULL;
    int id = bpf_core_enum_value(enum cgroup_subsys_id, cpuset_cgrp_id);
    return BPF_CORE_READ(cset, subsys[id], cgroup);
  }
  return BPF_CORE_READ(cset, dfl_cgrp);
}

static __always_inline unsigned int task_flags(struct task_struct* task, bool btf) {
  return btf ? task->flags : BPF_CORE_READ(task, flags);
}

static __always_inline __u64 task_cgroup_id(struct task_struct* task) {
  struct css_set* cset = BPF_CORE_READ(task, cgroups);
  struct cgroup* cgrp = cset ? css_set_cgroup(cset) : NULL;
  return cgrp ? BPF_CORE_READ(cgrp, kn, id) : 0;
}

static __always_inline __u64 ancestor_id(struct cgroup* cgrp, int level) {
  if (bpf_core_field_exists(cgrp->ancestors)) {
    struct cgroup* ancestor = NULL;
    bpf_core_read(&ancestor, sizeof(ancestor), &cgrp->ancestors[level]);
    return BPF_CORE_READ(ancestor, kn, id);
  }
  struct cgroup___pre60* old = (void*)cgrp;
  __u64 id = 0;
  bpf_core_read(&id, sizeof(id), &old->ancestor_ids[level]);
  return id;
}

/* Finds the tracked container of a cgroup: the cgroup itself or one of up to
 * NUMAPIN_MAX_CGROUP_DEPTH - 1 ancestors. */
static __always_inline __u32 walk_cgroup_slot(struct cgroup* cgrp, __u64 cgroup_id) {
  __u32* slot = bpf_map_lookup_elem(&cgroup_slots, &cgroup_id);
  if (slot) return *slot;

  int level = BPF_CORE_READ(cgrp, level);
  for (int up = 1; up < NUMAPIN_MAX_CGROUP_DEPTH; up++) {
    if (up > level) break;
    __u64 id = ancestor_id(cgrp, level - up);
    slot = bpf_map_lookup_elem(&cgroup_slots, &id);
    if (slot) return *slot;
  }
  return NUMAPIN_NO_SLOT;
}

static __always_inline bool cpu_allowed(const struct numapin_slot_config* config, __u32 cpu) {
  __u32 word = cpu / 64;
  /* Keeps clang from indexing with the unchecked 64-bit copy of the CPU number. */
  barrier_var(word);
  if (word >= NUMAPIN_CPU_MASK_WORDS) return false;
  return (config->cpus[word] >> (cpu % 64)) & 1;
}

static __always_inline bool node_local(const struct numapin_slot_config* config, __u32 node) {
  return node < NUMAPIN_MAX_NUMA_NODES && ((config->numa_nodes >> node) & 1);
}

/* Returns the NUMAPIN_PLACEMENT_* bits of a slot's task on `cpu`. */
static __always_inline __u32 placement(__u32 slot, __u32 cpu,
                                       const struct numapin_cpu_config* cpu_cfg) {
  struct numapin_slot_config* config = bpf_map_lookup_elem(&slot_config, &slot);
  if (!config) return NUMAPIN_PLACEMENT_ALLOWED | NUMAPIN_PLACEMENT_LOCAL;
  __u32 bits = 0;
  if (cpu_allowed(config, cpu)) bits |= NUMAPIN_PLACEMENT_ALLOWED;
  if (node_local(config, cpu_cfg->numa_node)) bits |= NUMAPIN_PLACEMENT_LOCAL;
  return bits;
}

/* Classifies a task and, for CLASS_TRACKED, stores its container slot and its placement on
 * this CPU, which only change with the generation.
 *
 * The per-CPU cache is keyed by the task's css_set (its set of cgroups), one load away from the
 * task. The cgroup id is three loads further (css_set, cgroup, kernfs node), and that chain
 * alone cost about 28 ns per switch in tools/bench/bpf-cost. */
static __always_inline __u32 classify(struct numapin_cpu_data* data,
                                      const struct numapin_cpu_config* cpu_cfg, __u32 cpu,
                                      struct task_struct* task, __u32 generation, __u32* slot,
                                      __u32* placement_bits, bool btf) {
  *slot = NUMAPIN_NO_SLOT;
  /* Idle tasks share pid 0 on every CPU, so PF_IDLE identifies them. */
  unsigned int flags = task_flags(task, btf);
  if (flags & PF_IDLE) return CLASS_IDLE;
  if (flags & PF_KTHREAD) return CLASS_KTHREAD;

  struct css_set* cset = task_css_set(task, btf);
  if (!cset) return CLASS_HOST;
  /* The verifier rejects shifts of a pointer, but a number loaded from a map value is a scalar
   * even when a pointer was stored there. */
  *(volatile __u64*)&data->pointer_scratch = (__u64)cset;
  __u64 key = *(volatile __u64*)&data->pointer_scratch;
  /* css_sets are slab objects of a few hundred bytes, so the low bits carry no information. */
  struct numapin_slot_cache_entry* entry =
      &data->cache[((key >> 8) ^ (key >> 14)) & (NUMAPIN_SLOT_CACHE_SIZE - 1)];
  /* NOTE: a css_set freed and reallocated at the same address keeps a stale entry until the
   * generation changes. The owner bumps it on every map change and counter read. */
  if (entry->css_set != key || entry->generation != generation) {
    struct cgroup* cgrp = css_set_cgroup(cset);
    entry->slot = cgrp ? walk_cgroup_slot(cgrp, BPF_CORE_READ(cgrp, kn, id)) : NUMAPIN_NO_SLOT;
    entry->placement = placement(entry->slot, cpu, cpu_cfg);
    entry->css_set = key;
    entry->generation = generation;
  }
  *slot = entry->slot;
  *placement_bits = entry->placement;
  return *slot == NUMAPIN_NO_SLOT ? CLASS_HOST : CLASS_TRACKED;
}

static __always_inline bool rate_allows(__u32 slot, __u64 now) {
  struct numapin_slot_rate* rate = bpf_map_lookup_elem(&slot_rate, &slot);
  if (!rate) return false;

  /* Two CPUs may both open a new window; the limit then admits a few extra events. */
  if (now - rate->window_start_ns >= rate_interval_ns) {
    rate->window_start_ns = now;
    rate->count = 0;
  }
  return __sync_fetch_and_add(&rate->count, 1) < events_per_interval;
}

static __always_inline void emit_violation(struct numapin_cpu_data* data, struct task_struct* task,
                                           __u32 slot, __u32 kind, __u32 cpu, __u32 from_cpu) {
  __u64 now = bpf_ktime_get_ns();
  if (!rate_allows(slot, now)) {
    data->counters.drops_rate_limited++;
    return;
  }
  struct numapin_event* event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
  if (!event) {
    data->counters.drops_ringbuf_full++;
    return;
  }

  event->timestamp_ns = now;
  event->cgroup_id = task_cgroup_id(task);
  event->slot = slot;
  event->kind = kind;
  event->cpu = cpu;
  event->from_cpu = from_cpu;
  event->pid = BPF_CORE_READ(task, pid);
  event->tgid = BPF_CORE_READ(task, tgid);
  BPF_CORE_READ_STR_INTO(&event->comm, task, comm);
  bpf_ringbuf_submit(event, 0);
  data->counters.events_sent++;
}

/* Adds the run time of the task leaving the CPU to its container and to the CPU's owner. */
static __always_inline void account_run(struct numapin_cpu_data* data,
                                        const struct numapin_cpu_config* cpu_cfg, __u32 class,
                                        __u32 slot, __u32 placement_bits, __u64 delta) {
  if (class == CLASS_TRACKED) {
    struct numapin_slot_counters* counters = bpf_map_lookup_elem(&slot_counters, &slot);
    if (counters) {
      /* Counted when the slice ends, which spares a lookup at switch-in. */
      counters->switches_in++;
      if (placement_bits & NUMAPIN_PLACEMENT_ALLOWED)
        counters->allowed_ns += delta;
      else
        counters->outside_ns += delta;
      if (!(placement_bits & NUMAPIN_PLACEMENT_LOCAL)) counters->remote_numa_ns += delta;
    }
  }

  __u32 owner = cpu_cfg->owner_slot;
  if (owner == NUMAPIN_NO_SLOT || class == CLASS_IDLE) return;
  if (class == CLASS_TRACKED && slot == owner) return;
  if (class == CLASS_KTHREAD)
    data->counters.foreign_kthread_ns += delta;
  else if (class == CLASS_TRACKED)
    data->counters.foreign_tracked_ns += delta;
  else
    data->counters.foreign_host_ns += delta;
}

/* The scheduler's own run time of a task. The scheduling classes update prev's
 * se.sum_exec_runtime in put_prev_task(), before sched_switch fires, so the difference from its
 * value at switch-in is the slice that just ended (the tests check fair and SCHED_FIFO tasks).
 * Reading it costs a load, where bpf_ktime_get_ns() costs a clock read: about 36 ns per switch
 * in tools/bench/bpf-cost on a 2-vCPU KVM guest. */
static __always_inline __u64 task_runtime(struct task_struct* task, bool btf) {
  return btf ? task->se.sum_exec_runtime : BPF_CORE_READ(task, se.sum_exec_runtime);
}

/* Accounts a `prev` whose switch-in this CPU did not see: the first switch after attach, and
 * the one after a task whose switch-out fired no sched_switch (seen for one user thread on
 * Linux 6.18.44-fc, by a bpftrace tracepoint probe too). The fair class sets
 * se.prev_sum_exec_runtime when it picks a task, which gives the slice. NOTE: for other
 * classes the slice is lost and only counted in unattributed_switches. */
static __always_inline void account_unseen(struct numapin_cpu_data* data,
                                           const struct numapin_cpu_config* cpu_cfg, __u32 cpu,
                                           struct task_struct* prev, __u32 generation, bool btf) {
  unsigned int policy = btf ? prev->policy : BPF_CORE_READ(prev, policy);
  if (policy != SCHED_NORMAL && policy != SCHED_BATCH && policy != SCHED_IDLE) {
    data->counters.unattributed_switches++;
    return;
  }
  __u64 start =
      btf ? prev->se.prev_sum_exec_runtime : BPF_CORE_READ(prev, se.prev_sum_exec_runtime);
  __u64 end = task_runtime(prev, btf);
  __u32 slot, bits;
  __u32 class = classify(data, cpu_cfg, cpu, prev, generation, &slot, &bits, btf);
  if (end >= start) account_run(data, cpu_cfg, class, slot, bits, end - start);
}

static __always_inline int handle_switch(struct task_struct* prev, struct task_struct* next,
                                         bool btf) {
  __u32 zero = 0;
  struct numapin_cpu_data* data = bpf_map_lookup_elem(&cpu_data, &zero);
  __u32 cpu = bpf_get_smp_processor_id();
  struct numapin_cpu_config* cpu_cfg = bpf_map_lookup_elem(&cpu_config, &cpu);
  if (!data || !cpu_cfg) return 0;

  __u32 generation = tracking_generation;

  /* `prev` is normally the task this CPU switched in last time, already classified. */
  if (data->current_task == (__u64)prev) {
    __u32 class = data->current_class;
    __u32 slot = data->current_slot;
    __u32 bits = data->current_placement;
    if (data->current_generation != generation)
      class = classify(data, cpu_cfg, cpu, prev, generation, &slot, &bits, btf);
    __u64 delta = task_runtime(prev, btf) - data->current_runtime_ns;
    account_run(data, cpu_cfg, class, slot, bits, delta);
  } else {
    account_unseen(data, cpu_cfg, cpu, prev, generation, btf);
  }

  __u32 slot, bits;
  __u32 class = classify(data, cpu_cfg, cpu, next, generation, &slot, &bits, btf);
  data->current_task = (__u64)next;
  data->current_class = class;
  data->current_slot = slot;
  data->current_generation = generation;
  data->current_runtime_ns = class == CLASS_IDLE ? 0 : task_runtime(next, btf);
  if (class != CLASS_TRACKED) return 0;

  data->current_placement = bits;
  if (bits & NUMAPIN_PLACEMENT_ALLOWED) return 0;
  struct numapin_slot_counters* counters = bpf_map_lookup_elem(&slot_counters, &slot);
  if (counters) counters->violations++;
  emit_violation(data, next, slot, NUMAPIN_VIOLATION_SWITCH_IN, cpu, cpu);
  return 0;
}

static __always_inline __u32 task_cpu(struct task_struct* task) {
  if (bpf_core_field_exists(task->thread_info.cpu)) return BPF_CORE_READ(task, thread_info.cpu);
  struct task_struct___pre516* old = (void*)task;
  return BPF_CORE_READ(old, cpu);
}

static __always_inline __u32 cpu_node(__u32 cpu) {
  struct numapin_cpu_config* cfg = bpf_map_lookup_elem(&cpu_config, &cpu);
  return cfg ? cfg->numa_node : 0;
}

/* sched_migrate_task fires before the kernel checks that the CPU changes, and `current` is the
 * task doing the move, not `task`. */
static __always_inline int handle_migrate(struct task_struct* task, int dest_cpu, bool btf) {
  __u32 from_cpu = task_cpu(task);
  if (dest_cpu < 0 || from_cpu == (__u32)dest_cpu) return 0;

  __u32 zero = 0;
  struct numapin_cpu_data* data = bpf_map_lookup_elem(&cpu_data, &zero);
  __u32 cpu = bpf_get_smp_processor_id();
  struct numapin_cpu_config* cpu_cfg = bpf_map_lookup_elem(&cpu_config, &cpu);
  if (!data || !cpu_cfg) return 0;
  /* The cache contains placements on the CPU running this hook, which the result ignores. */
  __u32 slot, bits;
  if (classify(data, cpu_cfg, cpu, task, tracking_generation, &slot, &bits, btf) != CLASS_TRACKED)
    return 0;

  struct numapin_slot_counters* counters = bpf_map_lookup_elem(&slot_counters, &slot);
  struct numapin_slot_config* config = bpf_map_lookup_elem(&slot_config, &slot);
  if (!counters || !config) return 0;
  counters->migrations++;
  if (cpu_node(from_cpu) != cpu_node(dest_cpu)) counters->cross_numa_migrations++;

  if (cpu_allowed(config, dest_cpu)) return 0;
  counters->violations++;
  emit_violation(data, task, slot, NUMAPIN_VIOLATION_MIGRATE, dest_cpu, from_cpu);
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct* prev, struct task_struct* next) {
  return handle_switch(prev, next, true);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct* prev, struct task_struct* next) {
  return handle_switch(prev, next, false);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(sched_migrate_btf, struct task_struct* task, int dest_cpu) {
  return handle_migrate(task, dest_cpu, true);
}

SEC("raw_tp/sched_migrate_task")
int BPF_PROG(sched_migrate_raw, struct task_struct* task, int dest_cpu) {
  return handle_migrate(task, dest_cpu, false);
}
