// SPDX-License-Identifier: GPL-2.0
// The object scripts/soak.py loads, attaches and closes thousands of times: a raw tracepoint
// on syscall entry that counts the getpid(2) calls of one process in a hash map and reports
// each in a ring buffer.
#include <linux/bpf.h>
#include <linux/types.h>
#include <asm/unistd.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct event {
	__u32 tgid;
	__u32 tid;
	__u64 seq;
};

const volatile __u32 target_tgid = 0;

SEC("raw_tp/sys_enter")
int count_getpid(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1, *n;
	__u32 tgid = id >> 32;
	struct event *e;

	if (tgid != target_tgid || ctx->args[1] != __NR_getpid)
		return 0;
	n = bpf_map_lookup_elem(&calls, &tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &tgid, &one, BPF_NOEXIST);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->tgid = tgid;
	e->tid = (__u32)id;
	e->seq = n ? *n : 1;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
