// SPDX-License-Identifier: GPL-2.0
// The program whose global function link_freplace.c replaces: a socket filter returning
// compute(skb->len), which is len + 1 until replaced.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int compute(int len)
{
	return len + 1;
}

SEC("socket")
int freplace_target(struct __sk_buff *skb)
{
	return compute(skb->len);
}

char _license[] SEC("license") = "GPL";
