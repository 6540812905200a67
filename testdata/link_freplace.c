// SPDX-License-Identifier: GPL-2.0
// An extension program: replaces the global function compute() of link_freplace_target.c.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("freplace/compute")
int new_compute(int len)
{
	return len + 1000;
}

char _license[] SEC("license") = "GPL";
