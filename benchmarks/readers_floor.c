// The libbpf floor of benchmarks/readers_bench.py: consume a pre-filled ring buffer or perf
// buffer with ring_buffer__poll / perf_buffer__poll, counting records and summing each
// record's first u64 (its sequence number).
//
//   readers_floor ringbuf MAP_FD PROG_FD N
//   readers_floor perf MAP_FD PROG_FD N PAGES
//
// The stream is made by running the XDP program PROG_FD (one record per run) N times with
// BPF_PROG_TEST_RUN, on CPU 0. Prints "<seconds> <records> <sum>".
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct counts {
	unsigned long long n, sum, lost;
};

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct counts *c = ctx;
	unsigned long long seq;

	memcpy(&seq, data, sizeof(seq));
	c->n++;
	c->sum += seq;
	return 0;
}

static void on_perf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	on_ring_record(ctx, data, size);
}

static void on_perf_lost(void *ctx, int cpu, __u64 lost)
{
	((struct counts *)ctx)->lost += lost;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fill(int prog_fd, unsigned n)
{
	char packet[64] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
		    .repeat = n);

	if (bpf_prog_test_run_opts(prog_fd, &opts)) {
		perror("bpf_prog_test_run_opts");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct counts c = {0};
	cpu_set_t cpus;
	double t0, t1;
	unsigned n;
	int map_fd, prog_fd;

	if (argc < 5)
		return 2;
	map_fd = atoi(argv[2]);
	prog_fd = atoi(argv[3]);
	n = strtoul(argv[4], NULL, 0);
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);

	if (!strcmp(argv[1], "ringbuf")) {
		struct ring_buffer *rb = ring_buffer__new(map_fd, on_ring_record, &c, NULL);

		if (!rb)
			return perror("ring_buffer__new"), 1;
		fill(prog_fd, n);
		t0 = now();
		while (c.n < n)
			if (ring_buffer__poll(rb, 0) < 0)
				return perror("ring_buffer__poll"), 1;
		t1 = now();
		ring_buffer__free(rb);
	} else {
		struct perf_buffer *pb = perf_buffer__new(map_fd, strtoul(argv[5], NULL, 0),
							  on_perf_sample, on_perf_lost, &c, NULL);

		if (!pb)
			return perror("perf_buffer__new"), 1;
		fill(prog_fd, n);
		t0 = now();
		while (c.n + c.lost < n)
			if (perf_buffer__poll(pb, 0) < 0)
				return perror("perf_buffer__poll"), 1;
		t1 = now();
		perf_buffer__free(pb);
	}
	printf("%.9f %llu %llu\n", t1 - t0, c.n, c.sum);
	return 0;
}
