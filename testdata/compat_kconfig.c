// SPDX-License-Identifier: GPL-2.0
// The kconfig externs libbpf defines itself rather than reading them from the kernel's
// configuration, in the types its headers declare them with, and a __weak LINUX_* extern no
// loader knows (it reads as 0, as with libbpf).
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern const _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern __u64 LINUX_HAS_SOMETHING_NEWER __kconfig __weak;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

struct seen {
	__u32 kernel_version;
	__u32 syscall_wrapper;
	__u32 bpf_cookie;
	__u32 bpf_syscall;
	__u64 newer;
};

struct seen seen = {};

SEC("socket")
int read_kconfig(struct __sk_buff *skb)
{
	seen.kernel_version = LINUX_KERNEL_VERSION;
	seen.syscall_wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	seen.bpf_cookie = LINUX_HAS_BPF_COOKIE;
	seen.bpf_syscall = CONFIG_BPF_SYSCALL;
	seen.newer = LINUX_HAS_SOMETHING_NEWER;
	return 0;
}

char _license[] SEC("license") = "GPL";
