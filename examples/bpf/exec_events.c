// SPDX-License-Identifier: GPL-2.0
// The live demo's program: one ring buffer event per exec() on the machine (who ran what), a
// count per command name, and a log2 histogram of how many arguments each exec had.
// BTF-enabled tracepoint (tp_btf): no tracefs needed; CO-RE reads of the task, so the object
// loads on any kernel with BTF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define COMM_LEN 16
#define PATH_LEN 96
#define SLOTS 16

struct exec_event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 argc;
	char comm[COMM_LEN];
	char parent[COMM_LEN];
	char filename[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[COMM_LEN]);
	__type(value, __u64);
} execs_by_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} argc_log2 SEC(".maps");

/* Set from Python before loading: report only the children of this process (0: everyone). */
const volatile __u32 only_parent = 0;

/* Keeps struct exec_event in the object's BTF, so user space can decode by its name. */
struct exec_event *unused_exec_event __attribute__((unused));

static __always_inline __u32 log2_slot(__u32 v)
{
	__u32 slot = 0;

	while (v > 1 && slot < SLOTS - 1) {
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(trace_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *parent = BPF_CORE_READ(p, real_parent);
	struct exec_event *e;
	__u64 one = 1, *count;
	__u32 ppid = BPF_CORE_READ(parent, tgid), slot;

	if (only_parent && ppid != only_parent)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(p, tgid);
	e->ppid = ppid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->argc = BPF_CORE_READ(bprm, argc);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->parent, parent, comm);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));

	count = bpf_map_lookup_elem(&execs_by_comm, e->comm);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&execs_by_comm, e->comm, &one, BPF_NOEXIST);
	slot = log2_slot(e->argc);
	count = bpf_map_lookup_elem(&argc_log2, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
