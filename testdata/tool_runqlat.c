// SPDX-License-Identifier: GPL-2.0
// runqlat-like: time from wakeup to running, per process, as a log2 histogram in a hash map.
// tp_btf hooks with CO-RE reads of the tasks (the state field under both of its names); the
// group leader's comm is read under kfunc RCU locking (__ksym), and a __weak kfunc this
// kernel lacks is called only where its existence was checked.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 26
#define TASK_RUNNING 0

struct hist {
	__u32 slots[MAX_SLOTS];
	__u64 count;
	__u64 total_ns;
	__u64 leader_pid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern void bpf_runqlat_no_such_kfunc(struct task_struct *p) __ksym __weak;
extern int CONFIG_HZ __kconfig __weak;

/* libbpf's bpf_ksym_exists(), which this libbpf's headers do not have yet */
#define ksym_exists(sym) (!!(sym))

__u64 weak_kfunc_present = 0;

const volatile __u32 target_tgid = 0;

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(((struct task_struct___old *)t)->state))
		return BPF_CORE_READ((struct task_struct___old *)t, state);
	return BPF_CORE_READ(t, __state);
}

static __always_inline int enqueue(struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid), pid = BPF_CORE_READ(p, pid);
	__u64 ts;

	if (!pid || (target_tgid && tgid != target_tgid))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
	return 0;
}

static __always_inline __u32 log2l(__u64 v)
{
	__u32 r = 0;

	for (int i = 0; i < 63 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runqlat_wakeup, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runqlat_wakeup_new, struct task_struct *p)
{
	return enqueue(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct hist zero = {}, *h;
	struct task_struct *leader;
	__u64 *tsp, delta;
	__u32 pid, tgid, slot;

	if (task_state(prev) == TASK_RUNNING)
		enqueue(prev);
	pid = BPF_CORE_READ(next, pid);
	tsp = bpf_map_lookup_elem(&start, &pid);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&start, &pid);
	tgid = BPF_CORE_READ(next, tgid);
	h = bpf_map_lookup_elem(&hists, &tgid);
	if (!h) {
		bpf_map_update_elem(&hists, &tgid, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &tgid);
		if (!h)
			return 0;
		bpf_rcu_read_lock();
		leader = next->group_leader;
		if (leader) {
			h->leader_pid = leader->pid;
			__builtin_memcpy(h->comm, leader->comm, sizeof(h->comm));
		}
		bpf_rcu_read_unlock();
	}
	if (ksym_exists(bpf_runqlat_no_such_kfunc)) {
		bpf_runqlat_no_such_kfunc(next);
		weak_kfunc_present = 1;
	}
	slot = log2l(delta / 1000);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->total_ns, delta);
	return 0;
}

char _license[] SEC("license") = "GPL";
