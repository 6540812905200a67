/* Floor for benchmarks/btf_bench.py: load vmlinux BTF with libbpf and look up names.
 *
 * Usage: btf_bench NAMES_FILE
 * NAMES_FILE holds one "kind name" pair per line (kind: s = struct, any other = any kind);
 * the first line is looked up first (task_struct). Prints one JSON object.
 */
#include <bpf/btf.h>
#include <linux/btf.h>
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

/* VmRSS or VmHWM of this process, in KiB (per address space, so not inherited). */
static long status_kib(const char *field)
{
	char line[256];
	long v = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	char kinds[256], names[256][128];
	int n = 0, found = 0;
	FILE *f;

	if (argc != 2 || !(f = fopen(argv[1], "r"))) {
		fprintf(stderr, "usage: %s NAMES_FILE\n", argv[0]);
		return 2;
	}
	while (n < 256 && fscanf(f, " %c %127s", &kinds[n], names[n]) == 2)
		n++;
	fclose(f);

	long before = status_kib("VmRSS");
	double t0 = now();
	struct btf *btf = btf__load_vmlinux_btf();
	double t1 = now();
	if (!btf) {
		fprintf(stderr, "btf__load_vmlinux_btf failed\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int id = kinds[i] == 's' ? btf__find_by_name_kind(btf, names[i], BTF_KIND_STRUCT)
					 : btf__find_by_name(btf, names[i]);
		if (id > 0)
			found++;
		if (i == 0 && id <= 0)
			return 1;
	}
	double t2 = now();
	printf("{\"load\": %.6f, \"lookups\": %.6f, \"total\": %.6f, \"found\": %d, "
	       "\"types\": %u, \"peak_added_kib\": %ld, \"peak_kib\": %ld}\n",
	       t1 - t0, t2 - t1, t2 - t0, found, btf__type_cnt(btf) - 1,
	       status_kib("VmHWM") - before, status_kib("VmHWM"));
	btf__free(btf);
	return 0;
}
