// SPDX-License-Identifier: GPL-2.0
// Programs for the tracing families of ebpf.link on the development machine's kernel: each
// counts how often the test process itself (target_tgid) went through its hook, and records
// the cookie it was attached with (bpf_get_attach_cookie), in a slot of its own.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Set by the test before loading.
const volatile __u32 target_tgid = 0;
const volatile __u64 getpid_nr = 39; // __NR_getpid on x86-64
// Whether raw_tp and tp_btf programs may read their cookie (Linux 6.10); the test clears it on older
// kernels, and the verifier then never sees the call.
const volatile __u8 raw_tp_cookies = 1;

enum { TP, TP_OTHER, RAW, BTF, SAMPLE, NSLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __u64);
} cookies SEC(".maps");

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void hit(__u32 slot, void *ctx, int with_cookie)
{
	__u64 *count = bpf_map_lookup_elem(&counts, &slot);
	__u64 *cookie = bpf_map_lookup_elem(&cookies, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
	if (cookie && with_cookie)
		*cookie = bpf_get_attach_cookie(ctx);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_getpid(void *ctx)
{
	if (mine())
		hit(TP, ctx, 1);
	return 0;
}

// The same hook, counting elsewhere: the program Link.update() swaps in.
SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_getpid_other(void *ctx)
{
	if (mine())
		hit(TP_OTHER, ctx, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_getpid(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == getpid_nr && mine())
		hit(RAW, ctx, raw_tp_cookies);
	return 0;
}

// sys_enter(struct pt_regs *regs, long id)
SEC("tp_btf/sys_enter")
int btf_getpid(__u64 *ctx)
{
	if (ctx[1] == getpid_nr && mine())
		hit(BTF, ctx, raw_tp_cookies);
	return 0;
}

SEC("perf_event")
int sample(void *ctx)
{
	if (mine())
		hit(SAMPLE, ctx, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
