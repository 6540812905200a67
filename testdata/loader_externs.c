// SPDX-License-Identifier: GPL-2.0
// Externs the loader resolves against the running kernel: Kconfig values (.kconfig), and a
// kernel function (__ksym kfunc) called from a tc program.
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern _Bool CONFIG_THIS_DOES_NOT_EXIST __kconfig __weak;
extern char CONFIG_BPF_JIT __kconfig;

__u32 seen_version = 0;
__u32 seen_hz = 0;
__u32 seen_flags = 0;

SEC("socket")
int read_kconfig(struct __sk_buff *skb)
{
	seen_version = LINUX_KERNEL_VERSION;
	seen_hz = CONFIG_HZ;
	seen_flags = (CONFIG_BPF_SYSCALL ? 1 : 0) | (CONFIG_THIS_DOES_NOT_EXIST ? 2 : 0) |
		     (CONFIG_BPF_JIT == 'y' ? 4 : 0);
	return 0;
}

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr) __ksym;

// Reads the first byte of the packet through a dynptr made by a kfunc.
SEC("tc")
int first_byte(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	__u8 b = 0;

	if (bpf_dynptr_from_skb(skb, 0, &ptr))
		return -1;
	if (bpf_dynptr_read(&b, 1, &ptr, 0, 0))
		return -2;
	return b;
}

char _license[] SEC("license") = "GPL";
