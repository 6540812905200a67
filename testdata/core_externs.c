// SPDX-License-Identifier: GPL-2.0
// Externs of every kind the loader fills from the running kernel: Kconfig values of each
// type (bool, tristate, int, char, string into a char array, absent __weak ones), the two
// LINUX_* pseudo options, typeless and typed kernel symbols (present and absent __weak ones),
// and a __weak kfunc that does not exist, called only behind its existence check. Plus an
// iterator whose attach target is resolved from kernel BTF.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern int CONFIG_HZ __kconfig;
extern int CONFIG_NO_SUCH_INT __kconfig __weak;
extern enum libbpf_tristate CONFIG_NO_SUCH_TRISTATE __kconfig __weak;
extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern bool CONFIG_NO_SUCH_BOOL __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig;
extern char CONFIG_LOCALVERSION[32] __kconfig;

extern const void bpf_prog_put __ksym;				/* typeless, a function */
extern const void no_such_symbol_anywhere __ksym __weak;	/* typeless, absent */
extern const struct task_struct no_such_typed_var __ksym __weak;	/* typed, absent */
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_no_such_kfunc(void) __ksym __weak;

struct values {
	__u64 jit;
	__u64 no_tristate;
	char hostname[16];
	char localversion[32];
	__u64 hz;
	__u64 no_int;
	__u64 wrapper;
	__u64 version;
	__u64 bpf_syscall;
	__u64 no_bool;
	__u64 prog_put;
	__u64 no_symbol;
	__u64 no_typed;
	__u64 kfunc_exists;
	__u64 acquired_pid;
};

struct values values = {};
__u64 iterated = 0;

SEC("raw_tp/sys_enter")
int read_externs(void *ctx)
{
	values.jit = CONFIG_BPF_JIT;
	values.no_tristate = CONFIG_NO_SUCH_TRISTATE;
	__builtin_memcpy(values.hostname, CONFIG_DEFAULT_HOSTNAME, sizeof(values.hostname));
	__builtin_memcpy(values.localversion, CONFIG_LOCALVERSION, sizeof(values.localversion));
	values.hz = CONFIG_HZ;
	values.no_int = CONFIG_NO_SUCH_INT;
	values.wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	values.version = LINUX_KERNEL_VERSION;
	values.bpf_syscall = CONFIG_BPF_SYSCALL;
	values.no_bool = CONFIG_NO_SUCH_BOOL;
	values.prog_put = (__u64)&bpf_prog_put;
	values.no_symbol = (__u64)&no_such_symbol_anywhere;
	values.no_typed = (__u64)&no_such_typed_var;
	values.kfunc_exists = !!bpf_no_such_kfunc;
	if (bpf_no_such_kfunc)
		bpf_no_such_kfunc();
	return 0;
}

SEC("tp_btf/sched_switch")
int acquire_next(u64 *ctx)
{
	struct task_struct *next = (struct task_struct *)ctx[2], *t;

	t = bpf_task_acquire(next);
	if (!t)
		return 0;
	values.acquired_pid = t->pid;
	bpf_task_release(t);
	return 0;
}

SEC("iter/task")
int count_tasks(struct bpf_iter__task *ctx)
{
	if (ctx->task)
		iterated++;
	return 0;
}

char _license[] SEC("license") = "GPL";
