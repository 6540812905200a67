// SPDX-License-Identifier: GPL-2.0
// Every BTF map attribute the loader reads (key_size/value_size instead of types, numa_node,
// map_extra, map_flags, pinning), a value with a spin lock (needs BTF at map creation), and
// global data in named sections (.data.extra, .rodata.str1.1 from a literal).
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 32);
	__uint(value_size, sizeof(__u64));
	__uint(map_extra, 3);
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(key_size, 2);
	__uint(value_size, 6);
	__uint(map_flags, BPF_F_NUMA_NODE);
	__uint(numa_node, 0);
} sized SEC(".maps");

struct locked {
	struct bpf_spin_lock lock;
	__u32 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked);
} with_lock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} queue SEC(".maps");

__u32 extra_data SEC(".data.extra") = 11;

SEC("tc")
int use_defs(struct __sk_buff *skb)
{
	__u64 item = skb->len;
	__u32 zero = 0, q = 5;
	struct locked *l;

	bpf_map_push_elem(&bloom, &item, 0);
	bpf_map_push_elem(&queue, &q, 0);
	l = bpf_map_lookup_elem(&with_lock, &zero);
	if (l) {
		bpf_spin_lock(&l->lock);
		l->value += extra_data;
		bpf_spin_unlock(&l->lock);
	}
	bpf_trace_printk("len %d\n", sizeof("len %d\n"), skb->len);
	return 0;
}

char _license[] SEC("license") = "GPL";
