// SPDX-License-Identifier: GPL-2.0
// Trampoline programs for ebpf.link.tracing and ebpf.link.lsm (proven in the VM guests: the
// development kernel refuses them): fentry/fexit count the test process's opens and see their
// results; fmod_ret changes what a kernel function returns and an LSM program denies, each
// for the test process and one file (by inode number) only.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1
#define EACCES 13

const volatile __u32 target_tgid = 0;
const volatile __u64 target_ino = 0;

enum { FENTRY, FEXIT, FMOD_RET, LSM, NSLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NSLOTS);
	__type(key, __u32);
	__type(value, __s64);
} values SEC(".maps");

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void hit(__u32 slot, __s64 value)
{
	__u64 *count = bpf_map_lookup_elem(&counts, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
	bpf_map_update_elem(&values, &slot, &value, BPF_ANY);
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(fentry_open, int dfd, const char *filename, struct open_how *how)
{
	if (mine())
		hit(FENTRY, bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(fexit_open, int dfd, const char *filename, struct open_how *how, long ret)
{
	if (mine())
		hit(FEXIT, ret);
	return 0;
}

// security_file_open() returns 0 for the file, unless this program makes it return -EACCES
// without running (fmod_ret: a non-zero return replaces the function's).
SEC("fmod_ret/security_file_open")
int BPF_PROG(fmod_ret_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	if (mine() && file->f_inode->i_ino == target_ino) {
		hit(FMOD_RET, -EACCES);
		return -EACCES;
	}
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(deny_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	if (mine() && file->f_inode->i_ino == target_ino) {
		hit(LSM, -EPERM);
		return -EPERM;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
