// SPDX-License-Identifier: GPL-2.0
// The program examples/usdt_probe.py traces when it is given no other: it "handles" N requests
// (N is its first argument, default 5) and marks each one with a USDT probe, then marks the end.
// <sys/sdt.h> (Debian: systemtap-sdt-dev) makes each probe a single nop instruction plus a note
// in the ELF file's .note.stapsdt section that says where the nop is and where each argument
// lives (a register, a constant, memory); a tracer turns the nop into a breakpoint.
//
//   demo:request(long id, long size, const char *name)    once per request, name "alpha-0" ...
//   demo:done(long count)                                 at the end
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

static const char *const names[] = {"alpha", "beta", "gamma", "delta", "epsilon"};

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 5;

	for (long id = 0; id < n; id++) {
		long size = 1000 * (id + 1);
		char name[32];

		// A tracer reads the string from this process's memory without faulting pages in,
		// so it reads what the program itself has just written.
		snprintf(name, sizeof(name), "%s-%ld", names[id % 5], id);
		DTRACE_PROBE3(demo, request, id, size, name);
	}
	DTRACE_PROBE1(demo, done, n);
	return 0;
}
