// SPDX-License-Identifier: GPL-2.0
// A program whose kernel-translated ("xlated") form holds what only the kernel writes: map
// references rewritten into map ids, the per-CPU address move the kernel inlines for
// bpf_get_smp_processor_id() and per-CPU array lookups, a rewritten helper call, and a
// bpf-to-bpf call and callback whose targets the kernel encodes differently. The command line
// tests disassemble it after loading.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} by_cpu SEC(".maps");

__u64 runs = 0;

static __noinline __u64 twice(__u64 x)
{
	return x * 2;
}

static long add_one(__u64 index, void *ctx)
{
	*(__u64 *)ctx += 1;
	return 0;
}

SEC("socket")
int count_cpu(struct __sk_buff *skb)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 zero = 0;
	__u64 loops = 0;
	__u64 *hits, *seen;

	hits = bpf_map_lookup_elem(&per_cpu_hits, &zero);
	if (hits)
		*hits += 1;
	seen = bpf_map_lookup_elem(&by_cpu, &cpu);
	if (seen)
		*seen += 1;
	bpf_loop(3, add_one, &loops, 0);
	runs += twice(loops);
	return 0;
}

char _license[] SEC("license") = "GPL";
