// SPDX-License-Identifier: GPL-2.0
// Tail calls through a statically initialised program array, a hash of maps initialised with
// two inner maps, callbacks (bpf_for_each_map_elem, bpf_loop, a timer), static and global
// subprograms shared between programs, a string literal in .rodata.str1.1, a no-autoload
// program and a sleepable syscall program.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

// Written by the tail-call targets, read by the tests.
__u32 last_target = 0;
__u64 elem_sum = 0;
__u32 syscall_runs = 0;
volatile const __u32 tail_bias = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner inner_one SEC(".maps");
struct inner inner_two SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} by_id SEC(".maps") = {
	.values = { [1] = &inner_one, [2] = &inner_two },
};

struct timer_elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct timer_elem);
} timers SEC(".maps");

static __noinline __u32 mark(__u32 which)
{
	last_target = which + tail_bias;
	return which;
}

__noinline int twice(int x)
{
	return x * 2;
}

SEC("socket")
int target_a(struct __sk_buff *skb)
{
	return mark(1) + twice(0);
}

SEC("socket")
int target_b(struct __sk_buff *skb)
{
	return mark(2) + twice(1);
}

int countdown(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = { [0] = (void *)&target_a, [1] = (void *)&target_b, [2] = (void *)&countdown },
};

__u32 depth = 0;

// Tail-calls itself through slot 2 until the kernel's tail call limit stops it.
SEC("socket")
int countdown(struct __sk_buff *skb)
{
	depth += 1;
	bpf_tail_call(skb, &jumps, 2);
	return depth;
}

// Tail-calls slot skb->len % 4: slots 0 and 1 hold targets, 2 countdown, 3 is empty.
SEC("socket")
int dispatch(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jumps, skb->len % 4);
	return 100 + twice(5);
}

static long sum_elem(void *map, __u32 *key, __u64 *val, void *ctx)
{
	*(__u64 *)ctx += *val;
	return 0;
}

static int timer_cb(void *map, __u32 *key, struct timer_elem *val)
{
	return 0;
}

// Sums `values` with a callback, reads the inner map of by_id[id], arms nothing but
// initialises a timer (so its callback is linked and verified).
SEC("socket")
int walk(struct __sk_buff *skb)
{
	__u64 sum = 0;
	__u32 id = 1, zero = 0;
	__u32 *inner_val;
	struct timer_elem *te;
	void *inner;

	bpf_for_each_map_elem(&values, sum_elem, &sum, 0);
	elem_sum = sum;

	inner = bpf_map_lookup_elem(&by_id, &id);
	if (inner) {
		inner_val = bpf_map_lookup_elem(inner, &zero);
		if (inner_val)
			*inner_val += 1;
	}

	te = bpf_map_lookup_elem(&timers, &zero);
	if (te) {
		bpf_timer_init(&te->t, &timers, 1 /* CLOCK_MONOTONIC */);
		bpf_timer_set_callback(&te->t, timer_cb);
	}
	bpf_printk("walked %llu", sum);
	return twice(21);
}

SEC("?socket")
int not_autoloaded(struct __sk_buff *skb)
{
	return 7;
}

SEC("syscall")
int count_syscall(void *ctx)
{
	syscall_runs += 1;
	return twice(3);
}

char _license[] SEC("license") = "GPL";
