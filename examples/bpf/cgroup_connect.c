// SPDX-License-Identifier: GPL-2.0
// examples/cgroup_connect.py: a cgroup/connect4 program. Every IPv4 connect() of a process in
// the cgroup (or in a cgroup below it) runs it first; returning 0 makes the call fail with
// EPERM, returning 1 lets it through.
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set from Python before loading: the TCP/UDP port nobody in the cgroup may connect to. */
const volatile __u16 blocked_port = 8080;

/* .bss counters, read by Python. */
__u64 refused;
__u64 allowed;

SEC("cgroup/connect4")
int block_port(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == bpf_htons(blocked_port)) {
		__sync_fetch_and_add(&refused, 1);
		return 0;
	}
	__sync_fetch_and_add(&allowed, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
