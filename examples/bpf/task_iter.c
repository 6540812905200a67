// SPDX-License-Identifier: GPL-2.0
// examples/task_iter.py: a task iterator. Reading the iterator (a file descriptor the kernel
// makes from the link) runs this program once per task on the machine; what it prints with
// BPF_SEQ_PRINTF is what the reader gets, like a /proc file written in BPF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* Set from Python before loading: list every thread, not only one line per process. */
const volatile bool all_threads = false;

SEC("iter/task")
int list_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)	// the end of the walk: the program runs once more with no task
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "%7s %7s %7s %s\n", "PID", "TID", "PPID", "COMM");
	if (!all_threads && task->pid != task->tgid)
		return 0;
	BPF_SEQ_PRINTF(seq, "%7d %7d %7d %s\n", task->tgid, task->pid,
		       BPF_CORE_READ(task, real_parent, tgid), task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
