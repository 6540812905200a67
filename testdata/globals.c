// SPDX-License-Identifier: GPL-2.0
// Global data in every section the loader handles: .rodata (constants the loader may rewrite
// before load), .data, .bss and a custom .data.custom section, including a struct in each of
// the first three. One socket filter reads and writes them through a static subprogram, a
// global subprogram and a bpf_loop callback.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct config {
	__u32 mode;
	__u32 limit;
	__u64 seed;
	char tag[8];
};

struct totals {
	__u64 packets;
	__u64 bytes;
	__u32 last_len;
	__u32 loops;
};

// .rodata: `volatile` keeps clang from folding the initial values into the code.
volatile const __u32 ro_multiplier = 3;
volatile const struct config ro_config = {
	.mode = 1,
	.limit = 1500,
	.seed = 0x0123456789abcdefULL,
	.tag = "globals",
};

// .data (a zero-initialised variable goes to .bss unless it is placed explicitly)
__u64 data_counter = 100;
struct totals data_totals SEC(".data") = { .packets = 0, .bytes = 0, .last_len = 0, .loops = 0 };

// .bss
__u32 bss_flag;
struct totals bss_totals;

// A custom data section, which the loader turns into its own array map.
__u64 custom_counter SEC(".data.custom") = 7;

// The bpf_loop callback: sums index * ro_multiplier into *ctx, stops after ro_config.mode + 3.
static long sum_cb(__u32 index, void *ctx)
{
	__u64 *sum = ctx;

	*sum += (__u64)index * ro_multiplier;
	return index >= ro_config.mode + 3 ? 1 : 0;
}

// A static (local) subprogram: verified as part of each caller.
static __noinline __u64 scale(__u64 v)
{
	return v * ro_multiplier + ro_config.seed % 16;
}

// A global subprogram: verified once, on its own, against its BTF signature.
__noinline int clamp_len(__u32 len)
{
	if (len > ro_config.limit)
		return ro_config.limit;
	return len;
}

SEC("socket")
int use_globals(struct __sk_buff *skb)
{
	__u32 len = clamp_len(skb->len);
	__u64 sum = 0;
	long loops;

	data_counter += 1;
	data_totals.packets += 1;
	data_totals.bytes += len;
	data_totals.last_len = len;

	bss_flag = 1;
	bss_totals.packets += 1;
	bss_totals.bytes += scale(len);

	loops = bpf_loop(8, sum_cb, &sum, 0);
	if (loops > 0)
		data_totals.loops = loops;

	custom_counter += sum;
	return ro_config.mode ? len : 0;
}

char _license[] SEC("license") = "GPL";
