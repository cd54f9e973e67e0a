/* Layouts shared by monitor.bpf.c and its C++ owner: load-time knobs, map values and the
 * ring-buffer record. Both sides compile this file, so it uses only __u32/__u64 types. */
#ifndef NUMAPIN_BPF_MONITOR_ABI_H_
#define NUMAPIN_BPF_MONITOR_ABI_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Upper bound of the CPU bitmask kept per container; CPUs at or above it are never allowed. */
#define NUMAPIN_MAX_CPUS 1024
#define NUMAPIN_CPU_MASK_WORDS (NUMAPIN_MAX_CPUS / 64)
/* NUMA nodes are kept as a 64-bit mask per container. */
#define NUMAPIN_MAX_NUMA_NODES 64
/* Slot value meaning "no container": an untracked task or a CPU without an owner. */
#define NUMAPIN_NO_SLOT 0xffffffffu
/* Cgroup levels walked above a task's own cgroup to find a tracked container. */
#define NUMAPIN_MAX_CGROUP_DEPTH 8
/* Entries of the per-CPU cgroup id -> slot cache; a power of two. */
#define NUMAPIN_SLOT_CACHE_SIZE 64

enum numapin_cgroup_mode {
  NUMAPIN_CGROUP_V2 = 0,        /* task->cgroups->dfl_cgrp */
  NUMAPIN_CGROUP_V1_CPUSET = 1, /* the cgroup of the task's cpuset css */
};

enum numapin_violation_kind {
  NUMAPIN_VIOLATION_SWITCH_IN = 1, /* a tracked task started running on a CPU outside its set */
  NUMAPIN_VIOLATION_MIGRATE = 2,   /* a tracked task was moved to a CPU outside its set */
};

/* Value of the cpu_config array, indexed by CPU. */
struct numapin_cpu_config {
  __u32 numa_node;
  __u32 owner_slot; /* container holding this CPU exclusively, or NUMAPIN_NO_SLOT */
};

/* Value of the slot_config array, indexed by slot. */
struct numapin_slot_config {
  __u64 cgroup_id;
  __u64 cpus[NUMAPIN_CPU_MASK_WORDS]; /* bit n set: CPU n is allowed */
  __u64 numa_nodes;                   /* bit n set: NUMA node n is the container's */
};

/* Value of the per-CPU slot_counters array, indexed by slot. Times in nanoseconds. */
struct numapin_slot_counters {
  __u64 allowed_ns;
  __u64 outside_ns;
  __u64 remote_numa_ns;
  __u64 switches_in; /* counted when the slice that began with it ends */
  __u64 migrations;
  __u64 cross_numa_migrations;
  __u64 violations;
};

/* Counters of one CPU, kept in that CPU's numapin_cpu_data. */
struct numapin_cpu_counters {
  __u64 foreign_kthread_ns; /* kernel threads on a CPU that a container owns */
  __u64 foreign_tracked_ns; /* tasks of other tracked containers there */
  __u64 foreign_host_ns;    /* every other task there */
  __u64 events_sent;
  __u64 drops_rate_limited;
  __u64 drops_ringbuf_full;
  __u64 unattributed_switches; /* `prev` was not the task seen switching in, so its slice is lost */
};

/* Placement of a tracked task relative to its container's assignment. */
#define NUMAPIN_PLACEMENT_ALLOWED 1u /* the CPU is in the assignment */
#define NUMAPIN_PLACEMENT_LOCAL 2u   /* the CPU is on one of the container's NUMA nodes */

struct numapin_slot_cache_entry {
  __u64 css_set; /* address of the struct css_set whose slot is cached */
  __u32 slot;
  __u32 generation;
  __u32 placement; /* NUMAPIN_PLACEMENT_* bits of the slot on this CPU */
  __u32 pad;
};

/* Value of the per-CPU cpu_data array (one entry): the state of the task running on that CPU,
 * so that sched_switch classifies `prev` without reading its cgroups again, plus counters. */
struct numapin_cpu_data {
  /* Read and written on every switch, so they lead the value. */
  __u64 current_task;       /* task_struct address switched in last, 0 before the first switch */
  __u64 current_runtime_ns; /* se.sum_exec_runtime of the current task at its switch-in */
  __u32 current_class;
  __u32 current_slot;
  __u32 current_generation;
  __u32 current_placement; /* NUMAPIN_PLACEMENT_* bits of a tracked current task */
  __u64 pointer_scratch;   /* turns a BTF pointer into a number the verifier lets us hash */
  struct numapin_cpu_counters counters;
  struct numapin_slot_cache_entry cache[NUMAPIN_SLOT_CACHE_SIZE];
};

/* Value of the slot_rate array: a fixed-window limit of events per slot. */
struct numapin_slot_rate {
  __u64 window_start_ns;
  __u64 count;
};

/* Ring-buffer record of one violation. */
struct numapin_event {
  __u64 timestamp_ns; /* CLOCK_MONOTONIC */
  __u64 cgroup_id;    /* the task's own cgroup, which may be below the tracked one */
  __u32 slot;
  __u32 kind;
  __u32 cpu;      /* CPU the task runs on (switch-in) or is moved to (migration) */
  __u32 from_cpu; /* CPU it leaves on migration; equal to cpu for a switch-in */
  __u32 pid;      /* thread id */
  __u32 tgid;     /* process id */
  char comm[16];
};

#endif /* NUMAPIN_BPF_MONITOR_ABI_H_ */
