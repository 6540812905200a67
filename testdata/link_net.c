// SPDX-License-Identifier: GPL-2.0
// Programs for the interface families of ebpf.link (XDP, tcx, tc, netkit): each counts the
// packets it sees in `counts`, and the `order_*` programs record the order they ran in.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

// order[0] is how many programs ran; order[1..15] their ids, in the order they ran.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} order SEC(".maps");

static __always_inline void count(void)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&counts, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void record(__u32 id)
{
	__u32 key = 0;
	__u32 *n = bpf_map_lookup_elem(&order, &key);
	__u32 slot;

	if (!n)
		return;
	slot = *n + 1;          // the test sends one packet at a time: no race to guard
	*n = slot;
	if (slot < 16) {
		__u32 *entry = bpf_map_lookup_elem(&order, &slot);

		if (entry)
			*entry = id;
	}
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	count();
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	count();
	return XDP_DROP;
}

// tc, tcx and netkit share their verdicts: 0 passes, 2 drops, -1 hands on to the next program.
SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	count();
	return TC_ACT_OK;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	count();
	return TC_ACT_SHOT;
}

SEC("tc")
int order_1(struct __sk_buff *skb)
{
	record(1);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int order_2(struct __sk_buff *skb)
{
	record(2);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int order_3(struct __sk_buff *skb)
{
	record(3);
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
