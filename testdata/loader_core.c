// SPDX-License-Identifier: GPL-2.0
// A CO-RE field access (bpf_core_read on a struct marked preserve_access_index) next to a
// program without one: the spec keeps the CO-RE records, and only the program that has them
// is refused at load time while CO-RE is not supported.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct sk_buff_like {
	__u32 len;
	__u32 mark;
} __attribute__((preserve_access_index));

SEC("raw_tp/sys_enter")
int with_core(void *ctx)
{
	struct sk_buff_like *s = ctx;
	__u32 mark = 0;

	bpf_core_read(&mark, sizeof(mark), &s->mark);
	return mark;
}

SEC("socket")
int without_core(struct __sk_buff *skb)
{
	return 1;
}

char _license[] SEC("license") = "GPL";
