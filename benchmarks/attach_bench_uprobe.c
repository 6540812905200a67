/* The C floor of attach_bench_uprobe.py: libbpf attaching a uprobe to a libc function by
 * name and detaching it again, over and over.
 *
 *   cc -O2 -o attach_bench_uprobe attach_bench_uprobe.c -lbpf
 *   ./attach_bench_uprobe OBJECT PROGRAM LIBRARY FUNCTION COUNT    (prints JSON)
 *
 * OBJECT is testdata/uprobe-el.elf; only PROGRAM is loaded. Each round is
 * bpf_program__attach_uprobe_opts(prog, -1, LIBRARY, 0, {.func_name = FUNCTION}) (libbpf
 * reads the library's symbol tables, opens a uprobe perf event and makes a perf link) and
 * bpf_link__destroy. "first" is the first attach+detach, "each" the median of the others,
 * "attach" and "detach" the medians of the two halves.
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog, *p;
	int count;
	double *times, *attach, *detach;

	if (argc != 6) {
		fprintf(stderr, "usage: %s OBJECT PROGRAM LIBRARY FUNCTION COUNT\n", argv[0]);
		return 2;
	}
	count = atoi(argv[5]);
	if (count < 2)
		return 2;
	times = calloc(count, sizeof(*times));
	attach = calloc(count, sizeof(*attach));
	detach = calloc(count, sizeof(*detach));
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return 1;
	prog = bpf_object__find_program_by_name(obj, argv[2]);
	if (!prog)
		return 1;
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, p == prog);
	if (bpf_object__load(obj))
		return 1;
	for (int i = 0; i < count; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = argv[4]);
		double t0 = now();
		struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, -1, argv[3], 0, &opts);
		double t1 = now();

		if (!link) {
			fprintf(stderr, "attach failed\n");
			return 1;
		}
		bpf_link__destroy(link);
		times[i] = now() - t0;
		attach[i] = t1 - t0;
		detach[i] = times[i] - attach[i];
	}
	double first = times[0];
	qsort(times + 1, count - 1, sizeof(*times), cmp);
	qsort(attach + 1, count - 1, sizeof(*attach), cmp);
	qsort(detach + 1, count - 1, sizeof(*detach), cmp);
	int mid = 1 + (count - 1) / 2;
	printf("{\"first\": %.9f, \"each\": %.9f, \"attach\": %.9f, \"detach\": %.9f}\n",
	       first, times[mid], attach[mid], detach[mid]);
	bpf_object__close(obj);
	return 0;
}
