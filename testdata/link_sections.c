// SPDX-License-Identifier: GPL-2.0
// One program per attach convention, for ebpf.link.attach() and Collection.attach_all():
// each of the tracing ones counts the getppid() calls of the process target_pid in its own
// slot of `hits`; the others only need to load.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_getppid 110 /* x86-64 */

enum { TP, RAW_TP, TP_BTF, UPROBE, SLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

const volatile __u32 target_pid = 0;

static __always_inline int hit(__u32 slot)
{
	__u64 *n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	n = bpf_map_lookup_elem(&hits, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int count_tp(void *ctx)
{
	return hit(TP);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(count_raw_tp, struct pt_regs *regs, long id)
{
	return id == NR_getppid ? hit(RAW_TP) : 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(count_tp_btf, struct pt_regs *regs, long id)
{
	return id == NR_getppid ? hit(TP_BTF) : 0;
}

SEC("uprobe/libc.so.6:getppid")
int count_uprobe(void *ctx)
{
	return hit(UPROBE);
}

SEC("?tp/syscalls/sys_enter_getppid")
int optional_tp(void *ctx)
{
	return hit(TP);
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (task && task->pid == task->tgid)
		BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->tgid, task->comm);
	return 0;
}

SEC("xdp")
int pass_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("cgroup/connect4")
int allow_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("socket")
int accept_all(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
