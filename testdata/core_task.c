// SPDX-License-Identifier: GPL-2.0
// CO-RE reads of the current task, compiled against vmlinux.h: the loader must fix every
// offset up for the running kernel. The test runs the programs with BPF_PROG_TEST_RUN (which
// runs them in the calling thread) and compares with getpid(), getppid() and the comm.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* vmlinux.h describes this x86 (little-endian) kernel, so the big-endian build of this file
 * only feeds the parser tests, which expect both builds to have the same instructions: give
 * it the little-endian bitfield probe (libbpf's big-endian one adds a pointer adjustment). */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#undef __CORE_BITFIELD_PROBE_READ
#define __CORE_BITFIELD_PROBE_READ(dst, src, fld)				\
	bpf_probe_read_kernel((void *)dst, __CORE_RELO(src, fld, BYTE_SIZE),	\
			      (const void *)src + __CORE_RELO(src, fld, BYTE_OFFSET))
#endif

struct task_info {
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 state_from;	/* 1: the old 'state' field, 2: '__state' */
	char comm[16];
	__u64 state;
	__u64 user_dumpable;
	__u64 in_execve;
	__u64 bits;		/* the 8 bytes at the offset of the word holding user_dumpable */
	__u64 bits_offset;
	__u64 flags;
	__u64 flags_wide;	/* read as 8 bytes where the kernel has 4: the load is narrowed */
};

struct task_info probed = {};
struct task_info direct = {};

/* Before 5.14 the task's state was 'long state'; since then it is 'unsigned int __state'. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

/* 'flags' is an unsigned int in the kernel: CO-RE narrows this 8-byte load to 4 bytes. */
struct task_struct___wide {
	unsigned long long flags;
} __attribute__((preserve_access_index));

/* A BPF subprogram with CO-RE relocations of its own (placed after the caller's code). */
static __noinline __u32 parent_tgid(struct task_struct *task)
{
	return BPF_CORE_READ(task, real_parent, tgid);
}

/* Reads through bpf_probe_read_kernel (BPF_CORE_READ and friends). */
SEC("raw_tp/sys_enter")
int task_probed(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	probed.pid = BPF_CORE_READ(task, pid);
	probed.tgid = BPF_CORE_READ(task, tgid);
	probed.ppid = parent_tgid(task);
	BPF_CORE_READ_STR_INTO(&probed.comm, task, comm);
	probed.user_dumpable = BPF_CORE_READ_BITFIELD_PROBED(task, user_dumpable);
	probed.in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	probed.bits_offset = bpf_core_field_offset(struct task_struct, user_dumpable);
	bpf_probe_read_kernel(&probed.bits, sizeof(probed.bits),
			      (char *)task + bpf_core_field_offset(struct task_struct, user_dumpable));
	if (bpf_core_field_exists(((struct task_struct___old *)task)->state)) {
		probed.state = BPF_CORE_READ((struct task_struct___old *)task, state);
		probed.state_from = 1;
	} else {
		probed.state = BPF_CORE_READ((struct task_struct___new *)task, __state);
		probed.state_from = 2;
	}
	return 0;
}

/* Direct loads through the BTF pointer bpf_get_current_task_btf() returns. */
SEC("raw_tp/sys_enter")
int task_direct(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	direct.pid = task->pid;
	direct.tgid = task->tgid;
	direct.ppid = task->real_parent->tgid;
	__builtin_memcpy(direct.comm, task->comm, sizeof(direct.comm));
	direct.user_dumpable = BPF_CORE_READ_BITFIELD(task, user_dumpable);
	direct.in_execve = BPF_CORE_READ_BITFIELD(task, in_execve);
	direct.flags = task->flags;
	direct.flags_wide = ((struct task_struct___wide *)task)->flags;
	if (bpf_core_field_exists(((struct task_struct___old *)task)->state)) {
		direct.state = ((struct task_struct___old *)task)->state;
		direct.state_from = 1;
	} else {
		direct.state = ((struct task_struct___new *)task)->__state;
		direct.state_from = 2;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
