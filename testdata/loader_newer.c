// SPDX-License-Identifier: GPL-2.0
// Conventions newer than the libbpf bpftool is built with: a 64-bit map attribute declared as
// an enum (libbpf's __ulong) and zero-initialised data in a named .bss.* section.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#define ulong_attr(name, val) enum { ___##name = val } name

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 16);
	__uint(value_size, sizeof(__u32));
	ulong_attr(map_extra, 5);
} bloom_ulong SEC(".maps");

__u64 extra_bss SEC(".bss.extra");

SEC("socket")
int count_extra(struct __sk_buff *skb)
{
	__u32 v = skb->len;

	bpf_map_push_elem(&bloom_ulong, &v, 0);
	extra_bss += 1;
	return 0;
}

char _license[] SEC("license") = "GPL";
