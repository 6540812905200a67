// SPDX-License-Identifier: GPL-2.0
// Types for the code generator (ebpf gen) to describe: nested structs, arrays of structs,
// unions with anonymous members, enums (signed, 64-bit), bitfields, a packed struct, an
// over-aligned member, a typedef'd anonymous struct, bool, float and double, pointers; used by
// a hash map (struct key and value), a per-CPU array, a ring buffer record and globals. One XDP
// program fills them: its return value depends on a .rodata constant.
#include <linux/bpf.h>
#include <linux/types.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

enum color { RED = 0, GREEN = 1, BLUE = 7 };
enum delta { DOWN = -1, SAME = 0, UP = 1 };
enum wide { WIDE_SMALL = 1, WIDE_BIG = 0x100000000ULL };

struct point {
	__s32 x;
	__s32 y;
};

typedef struct {
	__u16 lo;
	__u16 hi;
} range_t;

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	// one byte of padding here, then 4 to round up to 12
	enum color color;
};

struct flow_value {
	__u64 packets;
	struct point where[2];
	range_t range;
	union {
		__u32 as_u32;
		__u8 as_bytes[4];
	};
	__u8 small : 3;
	__u8 medium : 4;
	__u32 big : 20;
	bool seen;
	float ratio;
	double weight;
	void *ptr;
	enum delta trend;
	enum wide width;
	char label[6];
};

struct packed_rec {
	__u8 kind;
	__u32 value;
	__u16 tail;
} __attribute__((packed));

struct record {
	__u64 seq;
	struct packed_rec packed;
	char comm[5];
	__u64 aligned __attribute__((aligned(16)));
	union {
		struct point pt;
		__u64 raw;
	} u;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct point);
} per_cpu_points SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

// .rodata: the verdict the program returns, and a struct constant.
volatile const __u32 verdict = XDP_PASS;
volatile const struct point origin = { .x = 3, .y = -4 };

// .data / .bss
__u64 runs = 0;
struct point last_point = { .x = 1, .y = 2 };
enum color last_color;
__s8 signed_byte = -5;
double scale = 0.5;
char name[8] = "gen";

// Keeps struct record in the object's BTF (the usual anchor for ring buffer records).
struct record *record_anchor __attribute__((unused));

SEC("xdp")
int fill(struct xdp_md *ctx)
{
	struct flow_key key = {};
	struct flow_value value = {};
	struct record *r;
	__u32 zero = 0;
	struct point *p;

	key.addr = 0x0a000001;
	key.port = 80;
	key.proto = 6;
	key.color = BLUE;

	value.packets = ++runs;
	value.where[0].x = origin.x;
	value.where[0].y = origin.y;
	value.where[1].x = last_point.x;
	value.where[1].y = last_point.y;
	value.range.lo = 10;
	value.range.hi = 20;
	value.as_u32 = 0x04030201;
	value.small = 5;
	value.medium = 9;
	value.big = 0xabcde;
	value.seen = true;
	__builtin_memcpy(&value.ratio, &(__u32){ 0x3fc00000 }, 4);      // 1.5f
	__builtin_memcpy(&value.weight, &(__u64){ 0x4004000000000000ULL }, 8); // 2.5
	value.ptr = 0;
	value.trend = DOWN;
	value.width = WIDE_BIG;
	__builtin_memcpy(value.label, "flow!", 6);
	bpf_map_update_elem(&flows, &key, &value, BPF_ANY);

	p = bpf_map_lookup_elem(&per_cpu_points, &zero);
	if (p) {
		p->x += 1;
		p->y -= 1;
	}

	last_color = GREEN;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (r) {
		__builtin_memset(r, 0, sizeof(*r));
		r->seq = runs;
		r->packed.kind = 2;
		r->packed.value = 0x11223344;
		r->packed.tail = 0x5566;
		__builtin_memcpy(r->comm, "abcd", 5);
		r->aligned = 0x7777;
		r->u.pt.x = -1;
		r->u.pt.y = 1;
		bpf_ringbuf_submit(r, 0);
	}
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
