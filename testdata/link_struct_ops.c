// SPDX-License-Identifier: GPL-2.0
// A TCP congestion control in BPF, "ebpf_test_cc": Reno through the kernel's own functions,
// counting how often the kernel calls it. Registered through a struct_ops map: ebpf_cc
// (.struct_ops: registered by writing the map, any kernel) or ebpf_cc_link (.struct_ops.link:
// registered by a bpf_link, Linux 6.4+).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

enum { INIT, CONG_AVOID, SSTHRESH, NSLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void called(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&calls, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("struct_ops/ebpf_cc_init")
void BPF_PROG(ebpf_cc_init, struct sock *sk)
{
	called(INIT);
}

SEC("struct_ops/ebpf_cc_cong_avoid")
void BPF_PROG(ebpf_cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	called(CONG_AVOID);
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops/ebpf_cc_ssthresh")
__u32 BPF_PROG(ebpf_cc_ssthresh, struct sock *sk)
{
	called(SSTHRESH);
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops/ebpf_cc_undo_cwnd")
__u32 BPF_PROG(ebpf_cc_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops ebpf_cc = {
	.init = (void *)ebpf_cc_init,
	.cong_avoid = (void *)ebpf_cc_cong_avoid,
	.ssthresh = (void *)ebpf_cc_ssthresh,
	.undo_cwnd = (void *)ebpf_cc_undo_cwnd,
	.name = "ebpf_test_cc",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops ebpf_cc_link = {
	.init = (void *)ebpf_cc_init,
	.cong_avoid = (void *)ebpf_cc_cong_avoid,
	.ssthresh = (void *)ebpf_cc_ssthresh,
	.undo_cwnd = (void *)ebpf_cc_undo_cwnd,
	.name = "ebpf_test_cc",
};

char _license[] SEC("license") = "GPL";
