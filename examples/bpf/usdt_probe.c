// SPDX-License-Identifier: GPL-2.0
// examples/usdt_probe.py: runs at a USDT probe (<sys/sdt.h>) of a user-space program and sends
// every firing's arguments to user space through a ring buffer. libbpf's <bpf/usdt.bpf.h>
// decodes the arguments; ebpf.link.usdt() fills in the argument specs it reads.
#define __TARGET_ARCH_x86
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#define MAX_ARGS 12
#define TEXT_LEN 64

struct probe_event {
	__u64 cookie;		// what Python attached this probe with: which probe it is
	__u32 pid;
	__s32 arg_cnt;
	__s64 args[MAX_ARGS];
	char text[TEXT_LEN];	// the string argument_as_text points to, if any
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Set from Python before loading: which argument (0-based) is a C string, or -1 for none. */
const volatile __s32 text_arg = -1;

/* Keeps struct probe_event in the object's BTF, so Python decodes records by its name. */
struct probe_event *unused_probe_event __attribute__((unused));

SEC("usdt")
int on_probe(struct pt_regs *ctx)
{
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	int cnt = bpf_usdt_arg_cnt(ctx);
	long value;

	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->cookie = bpf_usdt_cookie(ctx);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->arg_cnt = cnt;
	for (int i = 0; i < MAX_ARGS && i < cnt; i++) {
		if (bpf_usdt_arg(ctx, i, &value) == 0)
			e->args[i] = value;
	}
	if (text_arg >= 0 && text_arg < MAX_ARGS && text_arg < cnt)
		bpf_probe_read_user_str(e->text, sizeof(e->text), (void *)e->args[text_arg]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
