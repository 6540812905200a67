// SPDX-License-Identifier: GPL-2.0
// Names that clash with what a module written by ebpf gen defines (Objects, Any, load, close,
// spec, ebpf, options) or that linters reject (l) or that are soft keywords (match).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct any { int x; };
struct objects { int y; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct any);
	__type(value, struct objects);
} close SEC(".maps");
const volatile int spec = 1, ebpf = 2, options = 3, objs = 4;
int l, variables, match;
SEC("socket") int load(void *ctx) { l++; variables++; match++; return spec + ebpf + options + objs; }
char LICENSE[] SEC("license") = "GPL";
