// SPDX-License-Identifier: GPL-2.0
// cgroup/connect4 programs for ebpf.link.cgroup: one refuses connections to the port in
// config[0] (connect() then fails with EPERM), one only counts, and order_N record the order
// they ran in.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

// calls[0]: connect4_block ran; calls[1]: connect4_count ran.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&calls, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("cgroup/connect4")
int connect4_block(struct bpf_sock_addr *ctx)
{
	__u32 key = 0;
	__u32 *port = bpf_map_lookup_elem(&config, &key);

	count(0);
	if (port && ctx->user_port == bpf_htons((__u16)*port))
		return 0;
	return 1;
}

SEC("cgroup/connect4")
int connect4_count(struct bpf_sock_addr *ctx)
{
	count(1);
	return 1;
}

// order[0] is how many order_N programs ran; order[1..7] their ids, in the order they ran.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} order SEC(".maps");

static __always_inline int record(__u32 id)
{
	__u32 key = 0;
	__u32 *n = bpf_map_lookup_elem(&order, &key);
	__u32 slot;

	if (!n)
		return 1;
	slot = *n + 1;          // the test makes one connection at a time
	*n = slot;
	if (slot < 8) {
		__u32 *entry = bpf_map_lookup_elem(&order, &slot);

		if (entry)
			*entry = id;
	}
	return 1;
}

SEC("cgroup/connect4")
int order_1(struct bpf_sock_addr *ctx)
{
	return record(1);
}

SEC("cgroup/connect4")
int order_2(struct bpf_sock_addr *ctx)
{
	return record(2);
}

SEC("cgroup/connect4")
int order_3(struct bpf_sock_addr *ctx)
{
	return record(3);
}

char _license[] SEC("license") = "GPL";
