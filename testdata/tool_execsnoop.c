// SPDX-License-Identifier: GPL-2.0
// execsnoop-like: one ring buffer event per exec (pid, parent, uid, comm, file name), plus a
// per-uid count in a hash map. CO-RE reads of the task and of the linux_binprm, Kconfig
// values in every event.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define FILENAME_LEN 128

struct exec_event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 old_pid;
	__u32 kernel_version;
	__u32 hz;
	__u32 syscall_wrapper;
	__u32 jit;		/* enum libbpf_tristate of CONFIG_BPF_JIT */
	char comm[16];
	char filename[FILENAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} execs_by_uid SEC(".maps");

extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

const volatile __u32 target_ppid = 0;

SEC("tp_btf/sched_process_exec")
int BPF_PROG(execsnoop, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exec_event *e;
	__u64 one = 1, *n;
	__u32 ppid, uid;

	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (target_ppid && ppid != target_ppid)
		return 0;
	uid = BPF_CORE_READ(task, cred, uid.val);
	n = bpf_map_lookup_elem(&execs_by_uid, &uid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&execs_by_uid, &uid, &one, BPF_NOEXIST);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(task, tgid);
	e->ppid = ppid;
	e->uid = uid;
	e->old_pid = old_pid;
	e->kernel_version = LINUX_KERNEL_VERSION;
	e->hz = CONFIG_HZ;
	e->syscall_wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	e->jit = CONFIG_BPF_JIT;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
