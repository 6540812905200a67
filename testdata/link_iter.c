// SPDX-License-Identifier: GPL-2.0
// Iterator programs for ebpf.link.iter: every task, every map, and the entries of one map,
// printed one per line.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// A map whose entries dump_elem prints (u32 -> u64).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} elems SEC(".maps");

// "<tgid> <pid> <comm>"
SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(seq, "%d %d %s\n", task->tgid, task->pid, task->comm);
	return 0;
}

// "pid=<pid>": the program an iterator link is updated to.
SEC("iter/task")
int dump_task_pids(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "pid=%d\n", task->pid);
	return 0;
}

// "<id> <name>"
SEC("iter/bpf_map")
int dump_map(struct bpf_iter__bpf_map *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct bpf_map *map = ctx->map;

	if (!map)
		return 0;
	BPF_SEQ_PRINTF(seq, "%u %s\n", map->id, map->name);
	return 0;
}

// "<key> <value>"
SEC("iter/bpf_map_elem")
int dump_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	__u32 *key = ctx->key;
	__u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(seq, "%u %llu\n", *key, *value);
	return 0;
}

char _license[] SEC("license") = "GPL";
