// SPDX-License-Identifier: MIT
// The floor for benchmarks/run.py: the same map and program operations done from C with raw
// bpf(2) calls, the way a careful C program (or libbpf's thin wrappers) would do them. Each
// call clears and fills its attr, then calls syscall(__NR_bpf, ...) directly.
//
//   floor OP N [ENTRIES]
//
// OP is one of: lookup update delete iterate batch test_run. N is the number of operations
// (for delete: deletions, done in passes over the whole map, each followed by an untimed
// refill; for iterate and batch: full passes over the map). ENTRIES is the size of the hash
// map (default 10000). Prints one JSON line:
//   {"op": "lookup", "n": 100000, "ns": 12345678, "ns_per_op": 123.4}
// Exit status 1 with a message on stderr if any call fails unexpectedly.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

static inline __u64 ptr(const void *p)
{
	return (__u64)(uintptr_t)p;
}

static inline long sys_bpf(int cmd, union bpf_attr *attr, size_t size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

// --- thin wrappers, one attr per call ----------------------------------------------------

static int map_create_hash(__u32 entries)
{
	const size_t sz = offsetofend(union bpf_attr, map_name);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.map_type = BPF_MAP_TYPE_HASH;
	attr.key_size = sizeof(__u32);
	attr.value_size = sizeof(__u64);
	attr.max_entries = entries;
	strncpy(attr.map_name, "floor", sizeof(attr.map_name) - 1);
	return sys_bpf(BPF_MAP_CREATE, &attr, sz);
}

static int map_lookup(int fd, const void *key, void *value)
{
	const size_t sz = offsetofend(union bpf_attr, flags);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.map_fd = fd;
	attr.key = ptr(key);
	attr.value = ptr(value);
	return sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr, sz);
}

static int map_update(int fd, const void *key, const void *value, __u64 flags)
{
	const size_t sz = offsetofend(union bpf_attr, flags);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.map_fd = fd;
	attr.key = ptr(key);
	attr.value = ptr(value);
	attr.flags = flags;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &attr, sz);
}

static int map_delete(int fd, const void *key)
{
	const size_t sz = offsetofend(union bpf_attr, flags);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.map_fd = fd;
	attr.key = ptr(key);
	return sys_bpf(BPF_MAP_DELETE_ELEM, &attr, sz);
}

static int map_next_key(int fd, const void *key, void *next)
{
	const size_t sz = offsetofend(union bpf_attr, next_key);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.map_fd = fd;
	attr.key = ptr(key);
	attr.next_key = ptr(next);
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &attr, sz);
}

// One BPF_MAP_LOOKUP_BATCH call; *count is in/out. Returns 0, or -1 with errno (ENOENT: done).
static int map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			    __u32 *count)
{
	const size_t sz = offsetofend(union bpf_attr, batch);
	union bpf_attr attr;
	int ret;

	memset(&attr, 0, sz);
	attr.batch.map_fd = fd;
	attr.batch.in_batch = ptr(in_batch);
	attr.batch.out_batch = ptr(out_batch);
	attr.batch.keys = ptr(keys);
	attr.batch.values = ptr(values);
	attr.batch.count = *count;
	ret = sys_bpf(BPF_MAP_LOOKUP_BATCH, &attr, sz);
	*count = attr.batch.count;
	return ret;
}

static int prog_load_xdp_pass(void)
{
	// r0 = XDP_PASS; exit
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const size_t sz = offsetofend(union bpf_attr, prog_name);
	union bpf_attr attr;

	memset(&attr, 0, sz);
	attr.prog_type = BPF_PROG_TYPE_XDP;
	attr.insns = ptr(insns);
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = ptr("GPL");
	strncpy(attr.prog_name, "floor_xdp", sizeof(attr.prog_name) - 1);
	return sys_bpf(BPF_PROG_LOAD, &attr, sz);
}

static int prog_test_run(int fd, const void *data, __u32 size, void *out, __u32 out_size,
			 __u32 *retval)
{
	const size_t sz = offsetofend(union bpf_attr, test.duration);
	union bpf_attr attr;
	int ret;

	memset(&attr, 0, sz);
	attr.test.prog_fd = fd;
	attr.test.data_in = ptr(data);
	attr.test.data_size_in = size;
	attr.test.data_out = ptr(out);
	attr.test.data_size_out = out_size;
	attr.test.repeat = 1;
	ret = sys_bpf(BPF_PROG_TEST_RUN, &attr, sz);
	*retval = attr.test.retval;
	return ret;
}

// --- the operations ------------------------------------------------------------------------

static void fill(int fd, __u32 entries)
{
	for (__u32 k = 0; k < entries; k++) {
		__u64 v = (__u64)k * 3;

		if (map_update(fd, &k, &v, BPF_ANY))
			die("fill: BPF_MAP_UPDATE_ELEM");
	}
}

static uint64_t op_lookup(int fd, long n, __u32 entries)
{
	uint64_t start = now_ns(), sum = 0;
	__u64 v;

	for (long i = 0; i < n; i++) {
		__u32 k = i % entries;

		if (map_lookup(fd, &k, &v))
			die("BPF_MAP_LOOKUP_ELEM");
		sum += v;
	}
	start = now_ns() - start;
	if (sum == 1)   // keep the loads observable
		fputs("", stderr);
	return start;
}

static uint64_t op_update(int fd, long n, __u32 entries)
{
	uint64_t start = now_ns();

	for (long i = 0; i < n; i++) {
		__u32 k = i % entries;
		__u64 v = i;

		if (map_update(fd, &k, &v, BPF_ANY))
			die("BPF_MAP_UPDATE_ELEM");
	}
	return now_ns() - start;
}

static uint64_t op_delete(int fd, long n, __u32 entries)
{
	uint64_t total = 0;
	long done = 0;

	while (done < n) {
		uint64_t start = now_ns();

		for (__u32 k = 0; k < entries && done < n; k++, done++)
			if (map_delete(fd, &k))
				die("BPF_MAP_DELETE_ELEM");
		total += now_ns() - start;
		fill(fd, entries);      // untimed
	}
	return total;
}

static uint64_t op_iterate(int fd, long passes, __u32 entries)
{
	uint64_t start = now_ns();
	__u32 key, next;
	__u64 v;

	for (long p = 0; p < passes; p++) {
		__u32 seen = 0;
		void *prev = NULL;

		while (map_next_key(fd, prev, &next) == 0) {
			if (map_lookup(fd, &next, &v) == 0)
				seen++;
			else if (errno != ENOENT)
				die("BPF_MAP_LOOKUP_ELEM");
			key = next;
			prev = &key;
		}
		if (errno != ENOENT)
			die("BPF_MAP_GET_NEXT_KEY");
		if (seen != entries) {
			fprintf(stderr, "floor: iterate saw %u of %u entries\n", seen, entries);
			exit(1);
		}
	}
	return now_ns() - start;
}

static uint64_t op_batch(int fd, long passes, __u32 entries)
{
	__u32 *keys = calloc(entries, sizeof(*keys));
	__u64 *values = calloc(entries, sizeof(*values));
	uint64_t start, elapsed;
	__u32 cursor_in, cursor_out;

	if (!keys || !values)
		die("calloc");
	start = now_ns();
	for (long p = 0; p < passes; p++) {
		__u32 seen = 0;
		void *in = NULL;

		for (;;) {
			__u32 count = entries - seen;
			int ret = map_lookup_batch(fd, in, &cursor_out, keys + seen, values + seen,
						   &count);

			if (ret && errno != ENOENT)
				die("BPF_MAP_LOOKUP_BATCH");
			seen += count;
			if (ret || seen >= entries)
				break;
			cursor_in = cursor_out;
			in = &cursor_in;
		}
		if (seen != entries) {
			fprintf(stderr, "floor: batch saw %u of %u entries\n", seen, entries);
			exit(1);
		}
	}
	elapsed = now_ns() - start;
	free(keys);
	free(values);
	return elapsed;
}

static uint64_t op_test_run(long n)
{
	unsigned char packet[64] = { 0 }, out[64];
	int fd = prog_load_xdp_pass();
	uint64_t start, elapsed;
	__u32 retval;

	if (fd < 0)
		die("BPF_PROG_LOAD");
	start = now_ns();
	for (long i = 0; i < n; i++) {
		if (prog_test_run(fd, packet, sizeof(packet), out, sizeof(out), &retval))
			die("BPF_PROG_TEST_RUN");
		if (retval != XDP_PASS) {
			fprintf(stderr, "floor: test_run returned %u\n", retval);
			exit(1);
		}
	}
	elapsed = now_ns() - start;
	close(fd);
	return elapsed;
}

int main(int argc, char **argv)
{
	const char *op;
	long n, entries = 10000;
	uint64_t ns;
	int fd = -1;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s lookup|update|delete|iterate|batch|test_run N [ENTRIES]\n",
			argv[0]);
		return 2;
	}
	op = argv[1];
	n = strtol(argv[2], NULL, 10);
	if (argc == 4)
		entries = strtol(argv[3], NULL, 10);
	if (n <= 0 || entries <= 0) {
		fprintf(stderr, "floor: N and ENTRIES must be positive\n");
		return 2;
	}

	if (strcmp(op, "test_run") != 0) {
		fd = map_create_hash(entries);
		if (fd < 0)
			die("BPF_MAP_CREATE");
		fill(fd, entries);
	}

	if (!strcmp(op, "lookup"))
		ns = op_lookup(fd, n, entries);
	else if (!strcmp(op, "update"))
		ns = op_update(fd, n, entries);
	else if (!strcmp(op, "delete"))
		ns = op_delete(fd, n, entries);
	else if (!strcmp(op, "iterate"))
		ns = op_iterate(fd, n, entries);
	else if (!strcmp(op, "batch"))
		ns = op_batch(fd, n, entries);
	else if (!strcmp(op, "test_run"))
		ns = op_test_run(n);
	else {
		fprintf(stderr, "floor: unknown operation %s\n", op);
		return 2;
	}

	if (fd >= 0)
		close(fd);
	printf("{\"op\": \"%s\", \"n\": %ld, \"ns\": %llu, \"ns_per_op\": %.1f}\n", op, n,
	       (unsigned long long)ns, (double)ns / n);
	return 0;
}
