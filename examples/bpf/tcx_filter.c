// SPDX-License-Identifier: GPL-2.0
// examples/tcx_filter.py: an ingress filter for tcx (Linux 6.6+; on older kernels the library
// falls back to a tc clsact filter) that counts UDP datagrams to one port and, if told to,
// drops them. Everything else goes on to the next program of the hook (TC_ACT_UNSPEC, which
// tcx calls TCX_NEXT), and in the end to the network stack.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Set from Python before loading. */
const volatile __u16 port = 9999;	// the UDP destination port to watch
const volatile __u8 drop = 1;		// drop what goes to it (0: only count)

/* .bss counters, read by Python. */
__u64 packets;		// every packet the filter saw
__u64 matched;		// UDP datagrams to port
__u64 dropped;		// of those, dropped

SEC("tcx/ingress")
int udp_filter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;

	__sync_fetch_and_add(&packets, 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP)
		return TC_ACT_UNSPEC;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end || udp->dest != bpf_htons(port))
		return TC_ACT_UNSPEC;
	__sync_fetch_and_add(&matched, 1);
	if (!drop)
		return TC_ACT_UNSPEC;
	__sync_fetch_and_add(&dropped, 1);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
