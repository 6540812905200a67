/* Floor for benchmarks/attach_bench_net.py: attach and detach network programs with libbpf.
 *
 * Usage: attach_bench_net NETNS_PATH NET_OBJ CGROUP_OBJ IFNAME CGROUP_DIR ITERATIONS
 * Enters the network namespace at NETNS_PATH (the script makes a fresh one), then for each
 * family times ITERATIONS attach+detach pairs after a few unmeasured ones, and prints one
 * JSON object: family -> median microseconds per pair.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BPF_TCX_INGRESS_ 46 /* not in this libbpf's headers (1.1) */
#define WARMUP 20

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "attach_bench_net: %s failed\n", what);
	exit(1);
}

static struct bpf_program *program(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);

	if (!p)
		die(name);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s NETNS_PATH NET_OBJ CGROUP_OBJ IFNAME CGROUP_DIR "
			"ITERATIONS\n", argv[0]);
		return 2;
	}
	int ns = open(argv[1], O_RDONLY);

	if (ns < 0 || setns(ns, CLONE_NEWNET))
		die("setns");
	close(ns);
	argv++;
	int n = atoi(argv[5]);
	int ifindex = if_nametoindex(argv[3]);
	int cg = open(argv[4], O_RDONLY | O_DIRECTORY);
	struct bpf_object *net = bpf_object__open_file(argv[1], NULL);
	struct bpf_object *cgo = bpf_object__open_file(argv[2], NULL);
	double *t = calloc(n, sizeof(*t));

	if (!ifindex || cg < 0 || !net || !cgo || !t || n <= 0)
		die("setup");
	if (bpf_object__load(net) || bpf_object__load(cgo))
		die("load");
	struct bpf_program *xdp = program(net, "xdp_pass");
	struct bpf_program *cls = program(net, "tc_pass");
	struct bpf_program *sock = program(cgo, "connect4_count");
	int xdp_fd = bpf_program__fd(xdp), cls_fd = bpf_program__fd(cls);
	int sock_fd = bpf_program__fd(sock);
	const char *names[] = {"xdp_link", "xdp_netlink", "tcx", "tc", "cgroup_link",
			       "cgroup_multi"};

	printf("{");
	for (int f = 0; f < 6; f++) {
		for (int i = -WARMUP; i < n; i++) {
			double t0 = now_us();
			struct bpf_link *link = NULL;
			int fd;

			switch (f) {
			case 0:
				link = bpf_program__attach_xdp(xdp, ifindex);
				if (!link)
					die("bpf_program__attach_xdp");
				bpf_link__destroy(link);
				break;
			case 1: {
				LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = xdp_fd);

				if (bpf_xdp_attach(ifindex, xdp_fd,
						   XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
						   NULL))
					die("bpf_xdp_attach");
				if (bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, &opts))
					die("bpf_xdp_detach");
				break;
			}
			case 2:
				fd = bpf_link_create(cls_fd, ifindex, BPF_TCX_INGRESS_, NULL);
				if (fd < 0)
					die("bpf_link_create(tcx)");
				close(fd);
				break;
			case 3: {
				LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
					    .attach_point = BPF_TC_INGRESS);
				LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = cls_fd);

				if (bpf_tc_hook_create(&hook))
					die("bpf_tc_hook_create");
				if (bpf_tc_attach(&hook, &opts))
					die("bpf_tc_attach");
				opts.prog_fd = opts.flags = opts.prog_id = 0;
				if (bpf_tc_detach(&hook, &opts))
					die("bpf_tc_detach");
				hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
				if (bpf_tc_hook_destroy(&hook))
					die("bpf_tc_hook_destroy");
				break;
			}
			case 4:
				link = bpf_program__attach_cgroup(sock, cg);
				if (!link)
					die("bpf_program__attach_cgroup");
				bpf_link__destroy(link);
				break;
			case 5:
				if (bpf_prog_attach(sock_fd, cg, BPF_CGROUP_INET4_CONNECT,
						    BPF_F_ALLOW_MULTI))
					die("bpf_prog_attach");
				if (bpf_prog_detach2(sock_fd, cg, BPF_CGROUP_INET4_CONNECT))
					die("bpf_prog_detach2");
				break;
			}
			if (i >= 0)
				t[i] = now_us() - t0;
		}
		printf("%s\"%s\": %.2f", f ? ", " : "", names[f], median(t, n));
	}
	printf("}\n");
	bpf_object__close(net);
	bpf_object__close(cgo);
	close(cg);
	free(t);
	return 0;
}
