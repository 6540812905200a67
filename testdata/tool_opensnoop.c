// SPDX-License-Identifier: GPL-2.0
// opensnoop-like: openat() entry and exit on the raw syscall tracepoints, arguments taken from
// the registers with CO-RE (struct pt_regs), in flight per thread in a hash map; each
// completed open goes to a perf event array and updates a per-process summary.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define NR_openat 257
#define NAME_LEN 64

struct args {
	const char *fname;
	__u64 flags;
};

struct open_event {
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;
	__u64 flags;
	char comm[16];
	char fname[NAME_LEN];
};

struct summary {
	__u64 opens;
	__s64 last_ret;
	__u64 last_flags;
	__u32 last_tid;
	__u32 pad;
	char last_comm[16];
	char last_fname[NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct args);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct summary);
} summaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

const volatile __u32 target_tgid = 0;

SEC("raw_tp/sys_enter")
int opensnoop_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = id;
	struct args a = {};

	if (ctx->args[1] != NR_openat)
		return 0;
	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	a.fname = (const char *)BPF_CORE_READ(regs, si);
	a.flags = BPF_CORE_READ(regs, dx);
	bpf_map_update_elem(&start, &tid, &a, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int opensnoop_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct summary zero = {}, *s;
	struct open_event *e;
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), pid, key = 0;
	struct args *a;

	if (BPF_CORE_READ(regs, orig_ax) != NR_openat)
		return 0;
	a = bpf_map_lookup_elem(&start, &tid);
	if (!a)
		return 0;
	e = bpf_map_lookup_elem(&scratch, &key);
	if (!e)
		goto out;
	pid = BPF_CORE_READ(task, tgid);
	e->pid = pid;
	e->tid = BPF_CORE_READ(task, pid);
	e->uid = BPF_CORE_READ(task, cred, uid.val);
	e->ret = ctx->args[1];
	e->flags = a->flags;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_probe_read_user_str(e->fname, sizeof(e->fname), a->fname);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));

	s = bpf_map_lookup_elem(&summaries, &pid);
	if (!s) {
		bpf_map_update_elem(&summaries, &pid, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&summaries, &pid);
		if (!s)
			goto out;
	}
	s->opens++;
	s->last_ret = e->ret;
	s->last_flags = e->flags;
	s->last_tid = e->tid;
	__builtin_memcpy(s->last_comm, e->comm, sizeof(s->last_comm));
	__builtin_memcpy(s->last_fname, e->fname, sizeof(s->last_fname));
out:
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

/* The classic hook, for kernels whose raw syscall tracepoints are not wanted: the arguments
 * come from the tracepoint's own record (a CO-RE read of its layout). */
SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_tp_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = id;
	struct args a = {};

	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	a.fname = (const char *)BPF_CORE_READ(ctx, args[1]);
	a.flags = BPF_CORE_READ(ctx, args[2]);
	bpf_map_update_elem(&start, &tid, &a, BPF_ANY);
	return 0;
}

char _license[] SEC("license") = "GPL";
