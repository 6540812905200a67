// SPDX-License-Identifier: GPL-2.0
// biolatency-like: block request latency (issue to completion) as a log2 histogram per disk
// and operation in a hash map, and every request's completion as a ring buffer event. The
// disk is found with CO-RE under either layout: rq->rq_disk (before 5.17) or rq->q->disk.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define MAX_SLOTS 27
#define REQ_OP_BITS 8
#define REQ_OP_MASK ((1 << REQ_OP_BITS) - 1)

struct hist_key {
	__u32 major;
	__u32 minor;
	__u32 op;
};

struct hist {
	__u32 slots[MAX_SLOTS];
	__u64 count;
	__u64 bytes;
};

struct bio_event {
	__u32 major;
	__u32 minor;
	__u32 op;
	__u32 nr_bytes;
	__u64 sector;
	__u64 delta_ns;
	__u32 pid;
	__u32 error;
	char disk[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct request *);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

extern bool CONFIG_BLK_DEV __kconfig __weak;

struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *request_disk(struct request *rq)
{
	struct request___old *old = (void *)rq;

	if (bpf_core_field_exists(old->rq_disk))
		return BPF_CORE_READ(old, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}

static __always_inline int trace_start(struct request *rq)
{
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&start, &rq, &ts, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(biolatency_insert, struct request *rq)
{
	return trace_start(rq);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(biolatency_issue, struct request *rq)
{
	return trace_start(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(biolatency_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct hist_key key = {};
	struct hist zero = {}, *h;
	struct gendisk *disk;
	struct bio_event *e;
	__u64 *tsp, delta;
	__u32 slot = 0;

	tsp = bpf_map_lookup_elem(&start, &rq);
	if (!tsp)
		return 0;
	delta = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&start, &rq);
	disk = request_disk(rq);
	key.major = BPF_CORE_READ(disk, major);
	key.minor = BPF_CORE_READ(disk, first_minor);
	key.op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			return 0;
	}
	for (__u64 v = delta / 1000; v > 1 && slot < MAX_SLOTS - 1; v >>= 1)
		slot++;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->bytes, nr_bytes);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->major = key.major;
	e->minor = key.minor;
	e->op = key.op;
	e->nr_bytes = nr_bytes;
	e->sector = BPF_CORE_READ(rq, __sector);
	e->delta_ns = delta;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->error = error;
	BPF_CORE_READ_STR_INTO(&e->disk, disk, disk_name);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
