// SPDX-License-Identifier: GPL-2.0
// Maps of maps in the oldest style: "maps" section definitions whose sixth field,
// inner_map_idx, names the inner map by its position among the definitions (ordered by offset),
// as the kernel's samples/bpf loader read them before BTF-defined maps existed.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

/* Definition 0: a plain counter. */
struct bpf_map_def SEC("maps") calls = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

/* Definition 1: the shape of every inner map. */
struct bpf_map_def SEC("maps") inner_values = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 4,
};

/* Definitions 2 and 3: maps of maps whose inner map is definition 1. */
struct bpf_map_def SEC("maps") outer_array = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 2,
	.inner_map_idx = 1,
};

struct bpf_map_def SEC("maps") outer_hash = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
	.inner_map_idx = 1,
};

/* Returns the value at slot 2 of the inner map at outer_array[0] plus the one at slot 3 of the
 * inner map at outer_hash[7]; 1000 when the first is missing, 2000 when the second is. */
SEC("socket")
int read_inner(struct __sk_buff *skb)
{
	__u32 zero = 0, seven = 7, slot2 = 2, slot3 = 3;
	__u32 *a, *b;
	__u64 *n;
	void *inner;

	n = bpf_map_lookup_elem(&calls, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	inner = bpf_map_lookup_elem(&outer_array, &zero);
	if (!inner)
		return 1000;
	a = bpf_map_lookup_elem(inner, &slot2);
	if (!a)
		return 1001;
	inner = bpf_map_lookup_elem(&outer_hash, &seven);
	if (!inner)
		return 2000;
	b = bpf_map_lookup_elem(inner, &slot3);
	if (!b)
		return 2001;
	return *a + *b;
}

char _license[] SEC("license") = "GPL";
