// SPDX-License-Identifier: GPL-2.0
// Subprograms in .text called from a program, from each other and through bpf_loop. Built
// normally this is an ordinary object; the committed variants without function symbols,
// as old clang emitted .text, are made from it (the llvm-objcopy commands are in
// tests/kernel/test_compat.py):
//   compat_calls_nofunc-{el,eb}.elf  the .text function symbols stripped; BTF kept
//   compat_calls_nobtf-{el,eb}.elf   the same without .BTF and .BTF.ext
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) __u32 square(__u32 x)
{
	return x * x;
}

static __attribute__((noinline)) __u32 sum_of_squares(__u32 a, __u32 b)
{
	return square(a) + square(b);
}

static long add_index(__u32 index, void *ctx)
{
	__u32 *total = ctx;

	*total += index;
	return 0;
}

/* 3*3 + 4*4 = 25 */
SEC("socket")
int compute(struct __sk_buff *skb)
{
	return sum_of_squares(3, 4);
}

/* 3*3 + 4*4 = 25, plus 0+1+...+9 = 45 from bpf_loop: 70. A callback needs BTF func info,
 * so this one does not load from the object without BTF. */
SEC("socket")
int compute_loop(struct __sk_buff *skb)
{
	__u32 total = sum_of_squares(3, 4);

	bpf_loop(10, add_index, &total, 0);
	return total;
}

SEC("xdp")
int compute_xdp(struct xdp_md *ctx)
{
	return square(2) == 4 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
