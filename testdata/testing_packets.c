// Parse a packet as the kernel sees it and check its checksums: the oracle of the packet
// builders in ebpf.testing.packets. Ethernet, then IPv4 (header checksum) or IPv6, then TCP,
// UDP, ICMP or ICMPv6 (checksum over the pseudo-header where the protocol has one). What was
// found goes into the one element of `parsed`.
//
// XDP: XDP_PASS (2) if every checksum is right, XDP_DROP (1) if one is wrong, XDP_ABORTED (0)
// if the packet is malformed or of another kind. tc: TC_ACT_OK (0), TC_ACT_SHOT (2) and
// TC_ACT_RECLASSIFY (1) the same way.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_L4_WORDS 384 // 768 bytes of transport header and payload

struct parsed {
	__u32 ethertype;   // host order
	__u32 l4_proto;
	__u32 ip_csum_ok;  // IPv4 header checksum right (1 for IPv6, which has none)
	__u32 l4_csum_ok;  // transport checksum right (UDP over IPv4 with checksum 0: 2)
	__u32 sport;       // host order (ICMP: type)
	__u32 dport;       // host order (ICMP: code)
	__u32 l4_len;      // transport header + payload, as the IP header says
	__u32 ttl;         // IPv4 TTL or IPv6 hop limit
	__u8 src[16];      // IPv4 addresses in the first 4 bytes
	__u8 dst[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct parsed);
} parsed SEC(".maps");

enum verdict { MALFORMED, BAD_CSUM, GOOD };

// A big-endian 16-bit field, read byte by byte: the same code for either target byte order
// (the tests check that both objects hold the same instructions).
static __always_inline __u32 be16(const __u8 *p)
{
	return ((__u32)p[0] << 8) | p[1];
}

static __always_inline __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

// One's complement sum of the n bytes at p as big-endian 16-bit words (an odd last byte padded
// with zero), read byte by byte so that both target byte orders compile to the same code.
static __always_inline __u32 sum_bytes(const __u8 *p, const void *end, __u32 n, __u32 sum)
{
	for (__u32 i = 0; i < MAX_L4_WORDS; i++) {
		if (2 * i + 1 >= n)
			break;
		const __u8 *w = p + 2 * i;
		if ((const void *)(w + 2) > end)
			return 0xffffffff;
		sum += be16(w);
	}
	if (n & 1) {
		const __u8 *last = p + (n & ~1u);
		if (n > 2 * MAX_L4_WORDS || (const void *)(last + 1) > end)
			return 0xffffffff;
		sum += (__u32)*last << 8;
	}
	return sum;
}

static __always_inline enum verdict parse(void *data, void *data_end)
{
	__u32 key = 0;
	struct parsed *out = bpf_map_lookup_elem(&parsed, &key);
	if (!out)
		return MALFORMED;
	__builtin_memset(out, 0, sizeof(*out));

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return MALFORMED;
	out->ethertype = be16((const __u8 *)&eth->h_proto);
	__u8 *l3 = (__u8 *)(eth + 1);
	__u32 sum = 0, l4_len, proto, off;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(l3 + 20) > data_end)
			return MALFORMED;
		__u32 ihl = (l3[0] & 0xf) * 4;
		if ((l3[0] >> 4) != 4 || ihl < 20 || ihl > 60)
			return MALFORMED;
		__u32 ip_sum = 0;
		for (__u32 i = 0; i < 30; i++) {
			if (2 * i >= ihl)
				break;
			if ((void *)(l3 + 2 * i + 2) > data_end)
				return MALFORMED;
			ip_sum += be16(l3 + 2 * i);
		}
		out->ip_csum_ok = fold(ip_sum) == 0xffff;
		__u32 total = be16(l3 + 2);
		if (total < ihl)
			return MALFORMED;
		l4_len = total - ihl;
		proto = l3[9];
		out->ttl = l3[8];
		__builtin_memcpy(out->src, l3 + 12, 4);
		__builtin_memcpy(out->dst, l3 + 16, 4);
		off = sizeof(*eth) + ihl;
		if (proto != IPPROTO_ICMP) {
			// Pseudo-header: addresses, zero, protocol, transport length.
			for (int i = 0; i < 4; i++)
				sum += be16(l3 + 12 + 2 * i);
			sum += proto + l4_len;
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(l3 + 40) > data_end)
			return MALFORMED;
		if ((l3[0] >> 4) != 6)
			return MALFORMED;
		out->ip_csum_ok = 1;
		l4_len = be16(l3 + 4);
		proto = l3[6];
		out->ttl = l3[7];
		__builtin_memcpy(out->src, l3 + 8, 16);
		__builtin_memcpy(out->dst, l3 + 24, 16);
		off = sizeof(*eth) + 40;
		// Pseudo-header: addresses, 32-bit length, zeroes, next header.
		for (int i = 0; i < 16; i++)
			sum += be16(l3 + 8 + 2 * i);
		sum += (l4_len >> 16) + (l4_len & 0xffff) + proto;
	} else {
		return MALFORMED;
	}
	out->l4_proto = proto;
	out->l4_len = l4_len;
	// One pointer to the transport header whatever the IP version, its offset bounded for the
	// verifier.
	asm volatile("" : "+r"(off));
	if (off > 74 || l4_len > 2 * MAX_L4_WORDS)
		return MALFORMED;
	__u8 *l4 = (__u8 *)data + off;
	if ((void *)(l4 + 20) > data_end && l4_len >= 20)
		return MALFORMED;

	switch (proto) {
	case IPPROTO_TCP:
		if (l4_len < 20 || (void *)(l4 + 20) > data_end)
			return MALFORMED;
		out->sport = be16(l4);
		out->dport = be16(l4 + 2);
		break;
	case IPPROTO_UDP:
		if (l4_len < 8 || (void *)(l4 + 8) > data_end)
			return MALFORMED;
		out->sport = be16(l4);
		out->dport = be16(l4 + 2);
		if (be16(l4 + 4) != l4_len)
			return MALFORMED;
		if (*(__u16 *)(l4 + 6) == 0 && eth->h_proto == bpf_htons(ETH_P_IP)) {
			out->l4_csum_ok = 2; // no checksum: allowed over IPv4 only
			return out->ip_csum_ok ? GOOD : BAD_CSUM;
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (l4_len < 4 || (void *)(l4 + 4) > data_end)
			return MALFORMED;
		out->sport = l4[0];
		out->dport = l4[1];
		break;
	default:
		return MALFORMED;
	}
	if ((proto == IPPROTO_ICMPV6) != (eth->h_proto == bpf_htons(ETH_P_IPV6)) &&
	    (proto == IPPROTO_ICMPV6 || proto == IPPROTO_ICMP))
		return MALFORMED; // ICMP over IPv6 or ICMPv6 over IPv4
	sum = sum_bytes(l4, data_end, l4_len, sum);
	if (sum == 0xffffffff)
		return MALFORMED;
	out->l4_csum_ok = fold(sum) == 0xffff;
	return out->ip_csum_ok && out->l4_csum_ok ? GOOD : BAD_CSUM;
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	switch (parse((void *)(long)ctx->data, (void *)(long)ctx->data_end)) {
	case GOOD:
		return XDP_PASS;
	case BAD_CSUM:
		return XDP_DROP;
	default:
		return XDP_ABORTED;
	}
}

SEC("tc")
int tc_parse(struct __sk_buff *skb)
{
	switch (parse((void *)(long)skb->data, (void *)(long)skb->data_end)) {
	case GOOD:
		return 0; // TC_ACT_OK
	case BAD_CSUM:
		return 2; // TC_ACT_SHOT
	default:
		return 1; // TC_ACT_RECLASSIFY
	}
}

char _license[] SEC("license") = "GPL";
