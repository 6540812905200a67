// SPDX-License-Identifier: GPL-2.0
// BTF-defined maps of several kinds (no legacy "maps" section), with programs using them:
// a hash, an array of structs, a per-CPU array, a ring buffer, a program array initialised
// statically with a tail-call target, and an array of maps whose inner map is a template and
// whose first slot is initialised with a concrete inner map.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct pkt_stats {
	__u64 packets;
	__u64 bytes;
};

struct event {
	__u32 len;
	__u32 first_byte;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} counts_by_len SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u64);
	__type(value, struct pkt_stats);
} pinned_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pkt_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

// The template for the inner maps of `outer`, and two maps of that shape.
struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner_map inner_a SEC(".maps");
struct inner_map inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	// The kernel takes no BTF for program arrays: give the key size, not the key type.
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = { [1] = (void *)&tail_target },
};

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	__u32 zero = 0;
	__u64 one = 1, *count;
	struct pkt_stats *st;
	struct event *ev;
	__u32 *inner_val;
	void *inner;

	count = bpf_map_lookup_elem(&counts_by_len, &len);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts_by_len, &len, &one, BPF_NOEXIST);

	st = bpf_map_lookup_elem(&stats, &zero);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, len);
	}

	count = bpf_map_lookup_elem(&percpu_hits, &zero);
	if (count)
		*count += 1;

	inner = bpf_map_lookup_elem(&outer, &zero);
	if (inner) {
		inner_val = bpf_map_lookup_elem(inner, &zero);
		if (inner_val)
			*inner_val = len;
	}

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (ev) {
		ev->len = len;
		ev->first_byte = data + 1 <= data_end ? *(__u8 *)data : 0;
		bpf_ringbuf_submit(ev, 0);
	}

	// Packets of exactly 1 byte are handed to slot 1 of the jump table.
	if (len == 1)
		bpf_tail_call(ctx, &jump_table, 1);
	return XDP_PASS;
}

SEC("socket")
int stats_by_flow(struct __sk_buff *skb)
{
	__u64 key = ((__u64)skb->protocol << 32) | skb->ifindex;
	struct pkt_stats init = { .packets = 1, .bytes = skb->len };
	struct pkt_stats *st;

	st = bpf_map_lookup_elem(&pinned_stats, &key);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	} else {
		bpf_map_update_elem(&pinned_stats, &key, &init, BPF_ANY);
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
