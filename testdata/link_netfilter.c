// SPDX-License-Identifier: GPL-2.0
// A netfilter program for ebpf.link.netfilter: counts packets, and drops them (NF_DROP) if
// drop[0] is set, else accepts them (NF_ACCEPT).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} drop SEC(".maps");

SEC("netfilter")
int nf_count(void *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &key);
	__u32 *d = bpf_map_lookup_elem(&drop, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return d && *d ? 0 : 1;     // NF_DROP : NF_ACCEPT
}

// A flow dissector that only counts, and leaves the keys as the kernel prepared them.
SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return BPF_OK;
}

char _license[] SEC("license") = "GPL";
