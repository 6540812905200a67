// SPDX-License-Identifier: GPL-2.0
// Every bpf_core_* macro of libbpf's bpf_core_read.h, each result stored in one slot of
// `results` (the slot numbers are the R_* constants; the test knows them). Types that this
// kernel lacks use flavors (`___missing`), so the same object also proves the zero answers.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* vmlinux.h describes this x86 (little-endian) kernel, so the big-endian build of this file
 * only feeds the parser tests, which expect both builds to have the same instructions: give
 * it the little-endian bitfield probe (libbpf's big-endian one adds a pointer adjustment). */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#undef __CORE_BITFIELD_PROBE_READ
#define __CORE_BITFIELD_PROBE_READ(dst, src, fld)				\
	bpf_probe_read_kernel((void *)dst, __CORE_RELO(src, fld, BYTE_SIZE),	\
			      (const void *)src + __CORE_RELO(src, fld, BYTE_OFFSET))
#endif

enum {
	R_FIELD_EXISTS, R_FIELD_MISSING, R_FIELD_SIZE, R_FIELD_OFFSET, R_FIELD_OFFSET_NESTED,
	R_TYPE_ID_LOCAL, R_TYPE_ID_KERNEL, R_TYPE_EXISTS, R_TYPE_MISSING, R_TYPE_SIZE,
	R_TYPE_MATCHES, R_TYPE_NOT_MATCHES, R_ENUM_EXISTS, R_ENUM_MISSING, R_ENUM_VALUE,
	R_BITFIELD_PROBED, R_BITFIELD_SIZE, R_READ, R_READ_STR, R_READ_INTO, R_READ_STR_INTO,
	R_READ_USER, R_ARRAY_ELEM_OFFSET, R_TYPE_SIZE_MISSING, R_ENUM64_VALUE, R_FIELD_SIGNED,
	R_ANON_UNION_OFFSET, R_COUNT,
};

__u64 results[R_COUNT] = {};
char comm[16] = {};
char comm_into[16] = {};

struct task_struct___missing {
	int no_such_field;
} __attribute__((preserve_access_index));

struct no_such_type___missing {
	int x;
};

/* Same name and shape as the kernel's: matches. */
struct list_head___same {
	struct list_head___same *next;
	struct list_head___same *prev;
};

/* Same name, other shape: exists, but does not match. */
struct list_head___other {
	int next;
};

enum bpf_map_type___missing {
	BPF_MAP_TYPE_NO_SUCH___missing = 1,
};

SEC("raw_tp/sys_enter")
int core_macros(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___missing *gone = (void *)task;
	pid_t pid = 0;

	results[R_FIELD_EXISTS] = bpf_core_field_exists(task->pid);
	results[R_FIELD_MISSING] = bpf_core_field_exists(gone->no_such_field);
	results[R_FIELD_SIZE] = bpf_core_field_size(task->comm);
	results[R_FIELD_OFFSET] = bpf_core_field_offset(struct task_struct, tgid);
	results[R_FIELD_OFFSET_NESTED] = bpf_core_field_offset(task->se.vruntime);
	results[R_TYPE_ID_LOCAL] = bpf_core_type_id_local(struct task_struct);
	results[R_TYPE_ID_KERNEL] = bpf_core_type_id_kernel(struct task_struct);
	results[R_TYPE_EXISTS] = bpf_core_type_exists(struct task_struct);
	results[R_TYPE_MISSING] = bpf_core_type_exists(struct no_such_type___missing);
	results[R_TYPE_SIZE] = bpf_core_type_size(struct task_struct);
	results[R_TYPE_MATCHES] = bpf_core_type_matches(struct list_head___same);
	results[R_TYPE_NOT_MATCHES] = bpf_core_type_matches(struct list_head___other);
	results[R_ENUM_EXISTS] = bpf_core_enum_value_exists(enum bpf_map_type,
							      BPF_MAP_TYPE_RINGBUF);
	results[R_ENUM_MISSING] = bpf_core_enum_value_exists(enum bpf_map_type___missing,
							       BPF_MAP_TYPE_NO_SUCH___missing);
	results[R_ENUM_VALUE] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	results[R_BITFIELD_PROBED] = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	results[R_BITFIELD_SIZE] = bpf_core_field_size(task->in_execve);
	results[R_FIELD_SIGNED] = __builtin_preserve_field_info(task->pid, BPF_FIELD_SIGNED);
	bpf_core_read(&pid, sizeof(pid), &task->tgid);
	results[R_READ] = pid;
	results[R_READ_STR] = bpf_core_read_str(comm, sizeof(comm), &task->comm);
	BPF_CORE_READ_INTO(&pid, task, real_parent, tgid);
	results[R_READ_INTO] = pid;
	results[R_READ_STR_INTO] = BPF_CORE_READ_STR_INTO(&comm_into, task, comm);
	/* a user-space read of a kernel address fails: a negative error, but it loads */
	results[R_READ_USER] = bpf_core_read_user(&pid, sizeof(pid), &task->pid) != 0;
	results[R_ARRAY_ELEM_OFFSET] = bpf_core_field_offset(task->comm[3]);
	results[R_TYPE_SIZE_MISSING] = bpf_core_type_size(struct no_such_type___missing);
	results[R_ENUM64_VALUE] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_ARENA);
	results[R_ANON_UNION_OFFSET] = bpf_core_field_offset(struct task_struct, __state);
	return 0;
}

char _license[] SEC("license") = "GPL";
