// SPDX-License-Identifier: GPL-2.0
// Names that clash with what a module written by ebpf gen defines (Objects, Any, load, close,
// spec, ebpf, options) or that linters reject (l) or that are soft keywords (match); names
// long enough that the generated lines must be split.
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
struct a_rather_long_structure_name_for_the_value_of_the_map {
	__u64 a_rather_long_member_name_for_counting_things;
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct a_rather_long_structure_name_for_the_value_of_the_map);
} a_really_long_map_name_that_goes_on_and_on_for_a_while SEC(".maps");
const volatile __u64 a_really_long_constant_name_that_also_goes_on_for_quite_some_time = 0;

SEC("socket") int load(void *ctx)
{
	__u32 zero = 0;
	struct a_rather_long_structure_name_for_the_value_of_the_map *v;

	v = bpf_map_lookup_elem(&a_really_long_map_name_that_goes_on_and_on_for_a_while, &zero);
	if (v)
		v->a_rather_long_member_name_for_counting_things +=
			a_really_long_constant_name_that_also_goes_on_for_quite_some_time;
	l++;
	variables++;
	match++;
	return spec + ebpf + options + objs;
}
char LICENSE[] SEC("license") = "GPL";
