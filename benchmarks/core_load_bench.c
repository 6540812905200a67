/* Floor for benchmarks/core_load_bench.py: open and load one BPF object with libbpf
 * (bpf_object__open_file + bpf_object__load: ELF parsing, vmlinux BTF, CO-RE, maps, programs),
 * then close it. Prints one JSON object with the time from main() to the end of the load.
 *
 * Usage: core_load_bench OBJECT
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	double t0 = now(), t1, t2;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJECT\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("bpf_object__open_file");
		return 1;
	}
	t1 = now();
	err = bpf_object__load(obj);
	t2 = now();
	if (err) {
		fprintf(stderr, "bpf_object__load: %d\n", err);
		return 1;
	}
	bpf_object__close(obj);
	printf("{\"open\": %.6f, \"load\": %.6f, \"total\": %.6f}\n", t1 - t0, t2 - t1, t2 - t0);
	return 0;
}
