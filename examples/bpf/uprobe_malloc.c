// SPDX-License-Identifier: GPL-2.0
// examples/uprobe_malloc.py: a uprobe on libc's malloc() that counts the requested sizes in a
// log2 histogram (slot N holds sizes from 2^N to 2^(N+1)-1; slot 0 also holds 0), plus the
// number of calls and bytes requested in two global variables.
// The section names the library and function, so ebpf.link.attach() needs only a pid.
#define __TARGET_ARCH_x86	// PT_REGS_PARM1: where the first argument is on x86-64
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define SLOTS 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} sizes_log2 SEC(".maps");

/* .bss: zero at load, read by Python afterwards. */
__u64 calls;
__u64 bytes_requested;

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

	for (int i = 0; i < SLOTS - 1 && v > 1; i++) {
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("uprobe/libc.so.6:malloc")
int BPF_KPROBE(count_malloc, __u64 size)
{
	__u32 slot = log2_slot(size);
	__u64 *count = bpf_map_lookup_elem(&sizes_log2, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
	__sync_fetch_and_add(&calls, 1);
	__sync_fetch_and_add(&bytes_requested, size);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
