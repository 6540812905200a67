// The C floor of benchmarks/attach_bench.py: attach + detach of the tracing families with
// libbpf, timed the same way as the Python side (median of N pairs after 20 unmeasured ones).
//   attach_bench OBJECT N   ->  one JSON line: {"tracepoint": us, ...}
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum { TRACEPOINT, RAW_TRACEPOINT, TP_BTF, PERF_EVENT, NCASES };
static const char *names[NCASES] = {"tracepoint", "raw_tracepoint", "tp_btf", "perf_event"};

static struct bpf_link *attach(int which, struct bpf_program **progs)
{
	struct perf_event_attr attr;
	int pfd;
	struct bpf_link *link;

	switch (which) {
	case TRACEPOINT:
		return bpf_program__attach_tracepoint(progs[which], "syscalls", "sys_enter_getpid");
	case RAW_TRACEPOINT:
		return bpf_program__attach_raw_tracepoint(progs[which], "sys_enter");
	case TP_BTF:
		return bpf_program__attach_trace(progs[which]);
	default:
		// The Python side's perf_event(): cpu-clock on CPU 0, one sample a second.
		memset(&attr, 0, sizeof(attr));
		attr.type = PERF_TYPE_SOFTWARE;
		attr.size = sizeof(attr);
		attr.config = PERF_COUNT_SW_CPU_CLOCK;
		attr.sample_period = 1000000000;
		attr.disabled = 1;
		pfd = syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0)
			return NULL;
		link = bpf_program__attach_perf_event(progs[which], pfd);
		if (!link)
			close(pfd);
		return link;
	}
}

int main(int argc, char **argv)
{
	static const char *prog_names[NCASES] = {"tp_getpid", "raw_getpid", "btf_getpid",
						 "sample"};
	struct bpf_program *progs[NCASES];
	struct bpf_object *obj;
	double *times;
	int n, which, i;

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT N\n", argv[0]);
		return 2;
	}
	n = atoi(argv[2]);
	times = calloc(n, sizeof(*times));
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	for (which = 0; which < NCASES; which++)
		progs[which] = bpf_object__find_program_by_name(obj, prog_names[which]);
	printf("{");
	for (which = 0; which < NCASES; which++) {
		for (i = -20; i < n; i++) {
			double t0 = now();
			struct bpf_link *link = attach(which, progs);

			if (!link) {
				fprintf(stderr, "attach %s failed\n", names[which]);
				return 1;
			}
			bpf_link__destroy(link);
			if (i >= 0)
				times[i] = now() - t0;
		}
		qsort(times, n, sizeof(*times), cmp);
		printf("%s\"%s\": %.3f", which ? ", " : "", names[which], times[n / 2] * 1e6);
	}
	printf("}\n");
	bpf_object__close(obj);
	return 0;
}
