// SPDX-License-Identifier: GPL-2.0
// Socket programs for ebpf.link: sk_lookup steering to a socket held in a sockmap, and
// sk_msg / sk_skb verdicts on the sockets of a sockmap.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// sk_lookup: connections to port steer_port[0] go to the socket in steer_to[0].
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} steer_to SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} steer_port SEC(".maps");

// stats[0]: connections steered; stats[1]: bytes seen by msg_verdict; stats[2]: bytes seen
// by skb_verdict.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

// drop[0]: whether msg_verdict and skb_verdict drop (SK_DROP) rather than pass (SK_PASS).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} drop SEC(".maps");

// The sockets msg_verdict and skb_verdict run for.
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

static __always_inline void add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline int the_verdict(void)
{
	__u32 key = 0;
	__u32 *d = bpf_map_lookup_elem(&drop, &key);

	return d && *d ? SK_DROP : SK_PASS;
}

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	__u32 key = 0;
	__u32 *port = bpf_map_lookup_elem(&steer_port, &key);
	struct bpf_sock *sk;
	long err;

	if (!port || ctx->local_port != *port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&steer_to, &key);
	if (!sk)
		return SK_DROP;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return SK_DROP;
	add(0, 1);
	return SK_PASS;
}

SEC("sk_msg")
int msg_verdict(struct sk_msg_md *msg)
{
	add(1, msg->size);
	return the_verdict();
}

SEC("sk_skb/stream_verdict")
int skb_verdict(struct __sk_buff *skb)
{
	add(2, skb->len);
	return the_verdict();
}

char _license[] SEC("license") = "GPL";
