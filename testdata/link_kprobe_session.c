// SPDX-License-Identifier: GPL-2.0
// A kprobe session program (Linux 6.10+): one program at the entry and the return of each
// function, counting both for the test process (target_tgid) only.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern bool bpf_session_is_return(void) __ksym;

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2); // [0]: entries, [1]: returns
	__type(key, __u32);
	__type(value, __u64);
} session_counts SEC(".maps");

SEC("kprobe.session")
int kps(struct pt_regs *ctx)
{
	__u32 slot;
	__u64 *n;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 1; // not ours: no return probe for this call
	slot = bpf_session_is_return() ? 1 : 0;
	n = bpf_map_lookup_elem(&session_counts, &slot);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
