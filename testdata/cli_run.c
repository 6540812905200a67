// SPDX-License-Identifier: GPL-2.0
// What `ebpf run` shows, made exact: getpgid() calls whose argument carries a marker in its top
// byte send one ring buffer event each (pid, value, comm) and count their value (the low 24
// bits) in a log2 histogram array and in a per-process histogram (a struct with a `slots`
// member), so a test decides what every map holds. Raw syscall tracepoint, no tracefs needed;
// the argument is read from the registers with CO-RE (x86-64 syscall numbers).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define NR_getpgid 121
#define MARKER 0x5e
#define SLOTS 24

struct run_event {
	__u32 pid;
	__u32 value;
	char comm[16];
};

struct pid_hist {
	__u32 slots[SLOTS];
	__u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} value_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct pid_hist);
} pid_hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

/* Keeps struct run_event in the object's BTF, so user space can decode records by its name. */
struct run_event *unused_run_event __attribute__((unused));

static __always_inline __u32 log2_slot(__u32 v)
{
	__u32 slot = 0;

	while (v > 1 && slot < SLOTS - 1) {
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("raw_tp/sys_enter")
int on_getpgid(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct pid_hist zero = {}, *h;
	struct run_event *e;
	__u64 arg, one = 1, *count;
	__u32 pid, value, slot;

	if (ctx->args[1] != NR_getpgid)
		return 0;
	arg = BPF_CORE_READ(regs, di);
	if (((arg >> 24) & 0xff) != MARKER)
		return 0;
	value = arg & 0xffffff;
	pid = bpf_get_current_pid_tgid() >> 32;
	slot = log2_slot(value);

	count = bpf_map_lookup_elem(&value_hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	count = bpf_map_lookup_elem(&calls, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&calls, &pid, &one, BPF_NOEXIST);
	h = bpf_map_lookup_elem(&pid_hists, &pid);
	if (!h) {
		bpf_map_update_elem(&pid_hists, &pid, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&pid_hists, &pid);
	}
	if (h && slot < SLOTS) {
		__sync_fetch_and_add(&h->slots[slot], 1);
		__sync_fetch_and_add(&h->total, value);
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->value = value;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
