// SPDX-License-Identifier: GPL-2.0
// Several programs per section ("xdp" and "tc") sharing static and global functions, so the
// loader must split each section into its programs and link the callees into every caller.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

// Static helpers: each caller gets its own copy after linking.
static __noinline __u32 mix(__u32 x)
{
	x ^= x >> 16;
	x *= 0x45d9f3b;
	x ^= x >> 16;
	return x;
}

static __noinline __u32 bucket(__u32 len)
{
	return mix(len) % 8;
}

// Global helpers: verified independently, callable from programs of any type.
__noinline int is_small(__u32 len)
{
	return len < 64;
}

__noinline int pick_verdict(__u32 len, int small_verdict, int big_verdict)
{
	return is_small(len) ? small_verdict : big_verdict;
}

SEC("xdp")
int xdp_by_size(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	return pick_verdict(len, XDP_PASS, XDP_DROP);
}

SEC("xdp")
int xdp_by_bucket(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	return bucket(len) == 0 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_mixed(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	if (is_small(len))
		return XDP_PASS;
	return mix(len) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int tc_by_size(struct __sk_buff *skb)
{
	return pick_verdict(skb->len, TC_ACT_OK, TC_ACT_SHOT);
}

SEC("tc")
int tc_by_bucket(struct __sk_buff *skb)
{
	skb->mark = bucket(skb->len);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
