// SPDX-License-Identifier: GPL-2.0
// examples/globals_config.py: configuration and results through global variables.
// - const volatile (.rodata): fixed before load; the verifier sees the value, so code behind a
//   false condition is removed before the program runs.
// - initialised globals (.data): have a value at load, and Python may change them while the
//   program runs.
// - zero globals (.bss): the program's results, read back by Python.
// The program runs on every system call entry (raw tracepoint sys_enter) and counts the calls
// of one syscall number made by one thread.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tid = 0;	// .rodata: the thread to watch
const volatile __s64 syscall_nr = -1;	// .rodata: the system call to count

__u64 weight = 1;			// .data: what each call adds to weighted_calls

__u64 calls;				// .bss: how many calls were seen
__u64 weighted_calls;			// .bss: the sum of weight at each call

SEC("raw_tp/sys_enter")
int count_syscalls(struct bpf_raw_tracepoint_args *ctx)
{
	/* sys_enter(struct pt_regs *regs, long id): args[1] is the syscall number. */
	if ((__u32)bpf_get_current_pid_tgid() != target_tid || (__s64)ctx->args[1] != syscall_nr)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	__sync_fetch_and_add(&weighted_calls, weight);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
