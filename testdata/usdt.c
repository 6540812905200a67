// SPDX-License-Identifier: GPL-2.0
// USDT programs for tests/kernel/test_link_usdt.py, written against libbpf's <bpf/usdt.bpf.h>:
// the attaching side fills __bpf_usdt_specs (and __bpf_usdt_ip_to_spec_id) and sets each
// attachment's BPF cookie to its spec id. Every firing pushes what bpf_usdt_arg() read onto a
// queue, which the tests compare with the values the traced C program passed.
#define __TARGET_ARCH_x86
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "GPL";

struct firing {
	__u64 usdt_cookie;	// bpf_usdt_cookie(): the cookie given to the attach call
	__u64 ip;		// where the probe fired
	__s32 arg_cnt;		// bpf_usdt_arg_cnt()
	__s32 errors;		// bpf_usdt_arg() calls that failed
	__u32 tgid;
	__u32 spec_id;		// bpf_get_attach_cookie(): the spec id the attach side chose
	long args[BPF_USDT_MAX_ARG_CNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1024);
	__type(value, struct firing);
} firings SEC(".maps");

// What the BPF_USDT-declared program saw: the sum of its two typed arguments, and calls.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} typed SEC(".maps");

static struct firing scratch;

SEC("usdt")
int record(struct pt_regs *ctx)
{
	struct firing *f = &scratch;
	int cnt = bpf_usdt_arg_cnt(ctx);

	__builtin_memset(f, 0, sizeof(*f));
	f->usdt_cookie = bpf_usdt_cookie(ctx);
	f->ip = PT_REGS_IP(ctx);
	f->arg_cnt = cnt;
	f->tgid = bpf_get_current_pid_tgid() >> 32;
	f->spec_id = bpf_get_attach_cookie(ctx);
	for (int i = 0; i < BPF_USDT_MAX_ARG_CNT; i++) {
		if (i >= cnt)
			break;
		if (bpf_usdt_arg(ctx, i, &f->args[i]))
			f->errors++;
	}
	bpf_map_push_elem(&firings, f, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(two_typed, int small, long big)
{
	__u32 k0 = 0, k1 = 1;
	__s64 *sum = bpf_map_lookup_elem(&typed, &k0);
	__s64 *calls = bpf_map_lookup_elem(&typed, &k1);

	if (sum)
		__sync_fetch_and_add(sum, (__s64)small + big);
	if (calls)
		__sync_fetch_and_add(calls, 1);
	return 0;
}
