// SPDX-License-Identifier: GPL-2.0
// kprobe programs for ebpf.link (proven in the VM guests: the development kernel has no
// kprobes). Each counts the calls the test process itself (target_tgid) makes, and keeps the
// last value it saw: its cookie, or the probed function's return value.
#define __TARGET_ARCH_x86
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

enum { OPEN, OPEN_RET, GETPID, GETPID_RET, NSLOTS };

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
} values SEC(".maps");

// kprobe_multi: calls by cookie.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} by_cookie SEC(".maps");

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void hit(__u32 slot, __u64 value)
{
	__u64 *count = bpf_map_lookup_elem(&counts, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
	bpf_map_update_elem(&values, &slot, &value, BPF_ANY);
}

SEC("kprobe/do_sys_openat2")
int kp_open(struct pt_regs *ctx)
{
	if (mine())
		hit(OPEN, bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int krp_open(struct pt_regs *ctx)
{
	if (mine())
		hit(OPEN_RET, PT_REGS_RC(ctx));
	return 0;
}

SEC("ksyscall/getpid")
int ks_getpid(struct pt_regs *ctx)
{
	if (mine())
		hit(GETPID, bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("kretsyscall/getpid")
int krs_getpid(struct pt_regs *ctx)
{
	if (mine())
		hit(GETPID_RET, PT_REGS_RC(ctx));
	return 0;
}

SEC("kprobe.multi")
int kpm(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), one = 1, *n;

	if (!mine())
		return 0;
	n = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&by_cookie, &cookie, &one, BPF_NOEXIST);
	return 0;
}

char _license[] SEC("license") = "GPL";
