// SPDX-License-Identifier: GPL-2.0
// Valid maps and a valid program next to one the verifier must reject (it reads past the end of
// a map value), so a failed load has objects to clean up.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} small SEC(".maps");

__u64 counter = 1;

SEC("socket")
int fine(struct __sk_buff *skb)
{
	counter += 1;
	return 0;
}

SEC("socket")
int out_of_bounds(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&small, &zero);

	if (!v)
		return 0;
	return *(__u64 *)((char *)v + 64);
}

char _license[] SEC("license") = "GPL";
