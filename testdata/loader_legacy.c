// SPDX-License-Identifier: GPL-2.0
// Legacy map definitions (a "maps" section of struct bpf_map_def, as before BTF-defined maps),
// a kernel version section and a dual license. libbpf 1.x no longer reads these; we still do.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def legacy_hash SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 16,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct legacy_map_def legacy_array SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 4,
};

SEC("socket")
int legacy_count(struct __sk_buff *skb)
{
	__u32 key = skb->len, idx = 0;
	__u64 one = 1, *v;
	__u32 *seen;

	v = bpf_map_lookup_elem(&legacy_hash, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&legacy_hash, &key, &one, BPF_ANY);
	seen = bpf_map_lookup_elem(&legacy_array, &idx);
	if (seen)
		*seen = key;
	return 0;
}

__u32 _version SEC("version") = 0x060c00;
char _license[] SEC("license") = "Dual MIT/GPL";
