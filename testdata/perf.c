// Perf event buffer test programs: samples of chosen sizes from an XDP program run by
// test_run (one sample per run), and a tracepoint on getpid(2) that reports the calling task.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

__u32 record_size = 16;     // bytes per sample (8 to 1024)
__u32 target_tgid = 0;      // getpid_sample: the test process
__u64 seq = 0;
__u64 failures = 0;         // outputs the kernel refused (buffer full)

__u8 scratch[1024];

SEC("xdp")
int output_sample(struct xdp_md *ctx)
{
	__u32 n = record_size;
	__u64 s = seq++;

	*(__u64 *)scratch = s;
	for (int i = 8; i < 64; i++)
		scratch[i] = (__u8)(s + i);
	if (n < 8 || n > 1024)
		return XDP_ABORTED;
	if (bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, scratch, n))
		failures++;
	return XDP_PASS;
}

struct getpid_sample {
	__u32 tgid;
	__u32 tid;
	__u64 seq;
};

SEC("tracepoint/syscalls/sys_enter_getpid")
int getpid_sample(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct getpid_sample s;

	if ((__u32)(id >> 32) != target_tgid)
		return 0;
	s.tgid = id >> 32;
	s.tid = (__u32)id;
	s.seq = seq++;
	bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &s, sizeof(s));
	return 0;
}
