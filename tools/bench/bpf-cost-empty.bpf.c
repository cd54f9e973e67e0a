// SPDX-License-Identifier: GPL-2.0
/* Baseline for tools/bench/bpf-cost: a tp_btf sched_switch program that does nothing, so its
 * run time is the fixed cost of entering any BPF program on that tracepoint. */
// clang-format off: vmlinux.h must precede the libbpf headers, which use its types.
#include "vmlinux.h"
// clang-format on

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_empty) { return 0; }
