// SPDX-License-Identifier: GPL-2.0
// The demo's BPF program: counts packets by IP protocol and, if asked, drops ICMP.
//
// Built into xdp_counter-el.elf / -eb.elf by `make -C examples/bpf`; examples/demo.py loads it.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Set from Python before loading (spec.variables["drop_icmp"].set(True)): .rodata is frozen
// at load, so the verifier sees the value and prunes the branch it rules out.
volatile const __u8 drop_icmp = 0;

// Global counters in .bss and .data, read from Python after the runs.
__u64 total_packets = 0;
__u64 total_bytes = 0;
__u32 last_protocol = 0xffffffff;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);    // IP protocol number, or 0xffff for "not IPv4"
	__type(value, __u64);  // packets seen
} proto_counts SEC(".maps");

#define NOT_IPV4 0xffff

static __always_inline void count(__u32 proto)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&proto_counts, &proto);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&proto_counts, &proto, &one, BPF_NOEXIST);
	last_protocol = proto;
}

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	__sync_fetch_and_add(&total_packets, 1);
	__sync_fetch_and_add(&total_bytes, (__u64)(end - data));
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) {
		count(NOT_IPV4);
		return XDP_PASS;
	}
	count(ip->protocol);
	if (drop_icmp && ip->protocol == 1 /* IPPROTO_ICMP */)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
