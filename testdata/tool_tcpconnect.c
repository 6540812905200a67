// SPDX-License-Identifier: GPL-2.0
// tcpconnect-like: every active TCP open as a ring buffer event. The connecting task is
// remembered when the socket enters SYN_SENT (the local port is not chosen yet then), and the
// event is sent when the connection is established, with addresses and ports read with CO-RE
// from the anonymous unions of struct sock_common; plus a count per destination port (ports
// stay in network byte order, which user space converts).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2

struct who {
	__u32 pid;
	__u32 uid;
	char comm[16];
};

struct conn_event {
	__u32 pid;
	__u32 uid;
	__u16 family;
	__u16 sport;
	__u16 dport;		/* network byte order, as the kernel keeps it */
	__u16 pad;
	__u32 saddr4;
	__u32 daddr4;
	__u8 saddr6[16];
	__u8 daddr6[16];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const struct sock *);
	__type(value, struct who);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} conns_by_port SEC(".maps");

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_IPV6 __kconfig __weak;
/* typeless kernel symbols (addresses from /proc/kallsyms); the second one does not exist */
extern const void tcp_v4_connect __ksym;
extern const void tcp_no_such_symbol __ksym __weak;

__u64 tcp_v4_connect_addr = 0;
__u64 no_such_symbol_addr = 1;
__u32 kernel_version = 0;

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcpconnect, const struct sock *sk, int oldstate, int newstate)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct conn_event *e;
	struct who w = {}, *wp;
	__u64 one = 1, *n;
	__u16 family, dport;

	tcp_v4_connect_addr = (__u64)&tcp_v4_connect;
	no_such_symbol_addr = (__u64)&tcp_no_such_symbol;
	kernel_version = LINUX_KERNEL_VERSION;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && !(CONFIG_IPV6 && family == AF_INET6))
		return 0;
	if (newstate == TCP_SYN_SENT) {
		w.pid = BPF_CORE_READ(task, tgid);
		w.uid = BPF_CORE_READ(task, cred, uid.val);
		BPF_CORE_READ_STR_INTO(&w.comm, task, comm);
		bpf_map_update_elem(&connecting, &sk, &w, BPF_ANY);
		return 0;
	}
	if (oldstate != TCP_SYN_SENT)
		return 0;
	wp = bpf_map_lookup_elem(&connecting, &sk);
	if (!wp)
		return 0;
	if (newstate != TCP_ESTABLISHED)
		goto out;

	dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	n = bpf_map_lookup_elem(&conns_by_port, &dport);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&conns_by_port, &dport, &one, BPF_NOEXIST);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto out;
	__builtin_memset(e, 0, sizeof(*e));
	e->pid = wp->pid;
	e->uid = wp->uid;
	__builtin_memcpy(e->comm, wp->comm, sizeof(e->comm));
	e->family = family;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = dport;
	if (family == AF_INET) {
		e->saddr4 = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		e->daddr4 = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&e->saddr6, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->daddr6, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&connecting, &sk);
	return 0;
}

char _license[] SEC("license") = "GPL";
