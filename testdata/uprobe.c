// SPDX-License-Identifier: GPL-2.0
// Uprobe programs for tests/kernel/test_link_uprobe.py: each firing is counted per BPF cookie,
// with the sum of the first two arguments (entry) or of the return value (return) and the
// process that fired it, so the tests can compare them with the calls the traced program made.
#define __TARGET_ARCH_x86
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct stats {
	__u64 calls;
	__u64 arg1_sum;
	__u64 arg2_sum;
	__u64 returns;
	__u64 ret_sum;
	__u32 last_tgid;
	__u32 other_tgids;
};

// cookie -> what the probes with that cookie saw
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, struct stats);
} stats SEC(".maps");

// Only firings of this process count in other_tgids' complement (0: every process).
const volatile __u32 target_tgid = 0;

extern bool bpf_session_is_return(void) __ksym __weak;

static __always_inline struct stats *slot(__u64 cookie)
{
	struct stats zero = {};
	struct stats *s = bpf_map_lookup_elem(&stats, &cookie);

	if (s)
		return s;
	bpf_map_update_elem(&stats, &cookie, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stats, &cookie);
}

static __always_inline void on_entry(struct pt_regs *ctx)
{
	struct stats *s = slot(bpf_get_attach_cookie(ctx));
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!s)
		return;
	__sync_fetch_and_add(&s->calls, 1);
	__sync_fetch_and_add(&s->arg1_sum, PT_REGS_PARM1(ctx));
	__sync_fetch_and_add(&s->arg2_sum, PT_REGS_PARM2(ctx));
	s->last_tgid = tgid;
	if (target_tgid && tgid != target_tgid)
		__sync_fetch_and_add(&s->other_tgids, 1);
}

static __always_inline void on_return(struct pt_regs *ctx)
{
	struct stats *s = slot(bpf_get_attach_cookie(ctx));

	if (!s)
		return;
	__sync_fetch_and_add(&s->returns, 1);
	__sync_fetch_and_add(&s->ret_sum, PT_REGS_RC(ctx));
	s->last_tgid = bpf_get_current_pid_tgid() >> 32;
}

SEC("uprobe")
int probe_entry(struct pt_regs *ctx)
{
	on_entry(ctx);
	return 0;
}

SEC("uretprobe")
int probe_return(struct pt_regs *ctx)
{
	on_return(ctx);
	return 0;
}

SEC("uprobe.multi")
int multi_entry(struct pt_regs *ctx)
{
	on_entry(ctx);
	return 0;
}

SEC("uretprobe.multi")
int multi_return(struct pt_regs *ctx)
{
	on_return(ctx);
	return 0;
}

// A session program runs at entry and, when the entry run returns 0, at return too.
SEC("uprobe.session")
int session(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		on_return(ctx);
	else
		on_entry(ctx);
	return 0;
}

// A socket filter: a program of the wrong type for every uprobe attach function.
SEC("socket")
int not_a_probe(struct __sk_buff *skb)
{
	return 0;
}
