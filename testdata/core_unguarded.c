// SPDX-License-Identifier: GPL-2.0
// A read of a field this kernel does not have, left unguarded, and a load whose width CO-RE
// cannot change safely: loading either must fail with a COREError naming the relocation,
// while the guarded program next to them loads.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Before 5.14 the task's state was 'long state'. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* 'pid' is a signed int in the kernel: an 8-byte signed load of it cannot be narrowed. */
struct task_struct___signed_wide {
	long long pid;
} __attribute__((preserve_access_index));

long state = -1;

SEC("raw_tp/sys_enter")
int guarded(void *ctx)
{
	struct task_struct___old *task = (void *)bpf_get_current_task();

	if (bpf_core_field_exists(task->state))
		state = BPF_CORE_READ(task, state);
	return 0;
}

SEC("raw_tp/sys_enter")
int unguarded(void *ctx)
{
	struct task_struct___old *task = (void *)bpf_get_current_task();

	return BPF_CORE_READ(task, state);
}

SEC("raw_tp/sys_enter")
int unsafe_resize(void *ctx)
{
	struct task_struct___signed_wide *task = (void *)bpf_get_current_task_btf();

	return task->pid;
}

char _license[] SEC("license") = "GPL";
