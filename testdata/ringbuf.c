// Ring buffer test programs: records of chosen sizes from XDP programs run by test_run (one
// record per run), fixed-size typed records reserved and submitted or discarded, a tracepoint
// on getpid(2) that reports the calling task, and a syscall program that drains a user ring
// buffer into a sum.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} other_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} user_events SEC(".maps");

struct pair {
	__u32 a;
	__u32 b;
};

// The typed record: decoded through BTF, ctypes and numpy in the tests.
struct event {
	__u64 seq;
	__u32 pid;
	__s16 delta;
	__u8 flags;
	char comm[16];
	struct pair pairs[2];
	double ratio;
};

// Local variables' types do not reach BTF: this global puts struct event there.
struct event *event_type_anchor;

// Set by the tests through the collection's variables.
__u32 record_size = 16;     // bytes per record of output_record (at most 1024)
__u32 discard_every = 0;    // reserve_event: discard every Nth record (0: none)
__u32 target_tgid = 0;      // getpid_event: the test process
__u32 to_other = 0;         // output_record: write to other_events instead

// Counters the programs keep.
__u64 seq = 0;
__u64 drained_sum = 0;
__u64 drained_count = 0;
__s64 drain_result = 0;

__u8 scratch[1024];

static __always_inline void stamp(void)
{
	__u64 s = seq++;

	// The sequence number first, then bytes derived from it, so tests can check contents.
	*(__u64 *)scratch = s;
	for (int i = 8; i < 64; i++)
		scratch[i] = (__u8)(s + i);
}

SEC("xdp")
int output_record(struct xdp_md *ctx)
{
	__u32 n = record_size;

	stamp();
	if (n < 8 || n > 1024)
		return XDP_ABORTED;
	bpf_ringbuf_output(to_other ? (void *)&other_events : (void *)&events, scratch, n, 0);
	return XDP_PASS;
}

SEC("xdp")
int reserve_event(struct xdp_md *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 s;

	if (!e)
		return XDP_ABORTED;
	s = seq++;
	e->seq = s;
	e->pid = 1000 + s;
	e->delta = -(__s16)s;
	e->flags = s & 0xff;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	e->comm[0] = 'e';
	e->comm[1] = 'v';
	e->comm[2] = '0' + (s % 10);
	e->pairs[0].a = s;
	e->pairs[0].b = s * 2;
	e->pairs[1].a = s * 3;
	e->pairs[1].b = s * 4;
	*(__u64 *)&e->ratio = 0x3ff8000000000000ULL; // 1.5
	if (discard_every && s % discard_every == 0)
		bpf_ringbuf_discard(e, 0);
	else
		bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

struct getpid_event {
	__u32 tgid;
	__u32 tid;
	__u64 seq;
	char comm[16];
};

SEC("tracepoint/syscalls/sys_enter_getpid")
int getpid_event(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct getpid_event *e;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->seq = seq++;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static long add_sample(struct bpf_dynptr *dynptr, void *ctx)
{
	__u64 v = 0;

	if (bpf_dynptr_read(&v, sizeof(v), dynptr, 0, 0))
		return 1; // stop: a record shorter than 8 bytes
	drained_sum += v;
	drained_count++;
	return 0;
}

SEC("syscall")
int drain_user(void *ctx)
{
	drain_result = bpf_user_ringbuf_drain(&user_events, add_sample, (void *)0, 0);
	return 0;
}
