"""User-space programs for the uprobe and USDT tests, compiled by the tests into a temporary
directory, and a way to run them at a moment the test chooses.

Every target waits for one byte on its standard input before doing its work, so a test starts
it, attaches (perhaps filtering on its pid), then lets it go and waits for it to exit. The
calls each target makes are fixed by the number it gets as its first argument, so the tests
know what the probes must have seen.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import ebpf
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import UnsupportedFeatureError
from ebpf.internal.kernel import kernel_version
from ebpf.link.uprobes import have_uprobe_multi, have_uprobe_session
from tests.conftest import REQUIRE_KERNEL
from tests.unit.userbins import require_tool, run

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"

# A program, a shared library it uses, and libc: for N, it calls
#   add(i, 2*i)  for i in 1..N          (returns 3*i)
#   fn_a once, fn_b twice, fn_c three times per i (each returns its argument + 1)
#   lib_scale(i, 5) in libuptarget.so   (returns 5*i)
#   getpid() N times
# then prints the sum of add's results and exits.
TARGET_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

long lib_scale(long x, long k);

#define KEEP __attribute__((noinline, used))
KEEP long add(long a, long b) { __asm__ volatile(""); return a + b; }
KEEP long fn_a(long x, long y) { __asm__ volatile(""); return x + 1; }
KEEP long fn_b(long x, long y) { __asm__ volatile(""); return x + 1; }
KEEP long fn_c(long x, long y) { __asm__ volatile(""); return x + 1; }
KEEP long other_function(long x) { __asm__ volatile(""); return x; }

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10, sum = 0, junk = 0;
    char go;

    if (read(0, &go, 1) != 1)
        return 2;
    for (long i = 1; i <= n; i++) {
        sum += add(i, 2 * i);
        junk += fn_a(i, 0);
        junk += fn_b(i, 0) + fn_b(i, 0);
        junk += fn_c(i, 0) + fn_c(i, 0) + fn_c(i, 0);
        junk += lib_scale(i, 5);
        junk += getpid() > 0;
    }
    printf("%ld %ld\n", sum, junk);
    return 0;
}
"""

LIB_C = r"""
__attribute__((noinline)) long lib_scale(long x, long k) { __asm__ volatile(""); return x * k; }
"""

# USDT probes (<sys/sdt.h>) of several sizes and signs, as constants, registers and memory
# (the compiler picks the operand forms: -O2 gives constants, registers and %rip-relative
# globals, -O0 stack slots), a probe with two sites, and one behind a semaphore, in a second
# file because _SDT_HAS_SEMAPHORES gives every probe of its file a semaphore. For N:
#   test:consts  once:       -3, 250, -1234, 60000, -100000, 4000000000, -5000000000,
#                            0xfedcba9876543210
#   test:regs    once:       (int8)(N-10), (uint16)(N*1000), (int32)-N, N*-3000000000
#   test:mem     once:       globals (int8)-N, (uint16)(65000+N), (int32)(-100000*N),
#                            0xfedcba9876543210+N
#   test:multi   for i < N:  i, 1 if i is odd else 2   (two sites: odd and even)
#   test:gated   once:       N, only while the semaphore is non-zero; prints it first
USDT_MAIN_C = r"""
#include <sys/sdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int8_t g_s8; uint16_t g_u16; int32_t g_s32; uint64_t g_u64;
void gated(int n);

__attribute__((noinline)) void regs(long n)
{
    int8_t a = (int8_t)(n - 10);
    uint16_t b = (uint16_t)(n * 1000);
    int32_t c = (int32_t)-n;
    int64_t d = n * -3000000000LL;
    STAP_PROBE4(test, regs, a, b, c, d);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3;
    char go;

    if (read(0, &go, 1) != 1)
        return 2;
    g_s8 = (int8_t)-n;
    g_u16 = (uint16_t)(65000 + n);
    g_s32 = (int32_t)(-100000 * n);
    g_u64 = 0xfedcba9876543210ULL + n;
    STAP_PROBE8(test, consts, (int8_t)-3, (uint8_t)250, (int16_t)-1234, (uint16_t)60000,
                (int32_t)-100000, (uint32_t)4000000000u, (int64_t)-5000000000LL,
                (uint64_t)0xfedcba9876543210ULL);
    regs(n);
    STAP_PROBE4(test, mem, g_s8, g_u16, g_s32, g_u64);
    for (long i = 0; i < n; i++) {
        if (i % 2)
            STAP_PROBE2(test, multi, i, 1);
        else
            STAP_PROBE2(test, multi, i, 2);
    }
    gated((int)n);
    return 0;
}
"""

USDT_SEMA_C = r"""
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>

unsigned short test_gated_semaphore __attribute__((unused)) __attribute__((section(".probes")));

void gated(int n)
{
    printf("semaphore=%u\n", (unsigned)test_gated_semaphore);
    fflush(stdout);
    if (test_gated_semaphore)
        STAP_PROBE1(test, gated, n);
}
"""

GO_MAIN = """\
package main

import (
	"fmt"
	"os"
	"strconv"
)

//go:noinline
func work(x int) int { return x*3 + 1 }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	buf := make([]byte, 1)
	if _, err := os.Stdin.Read(buf); err != nil {
		os.Exit(2)
	}
	sum := 0
	for i := 0; i < n; i++ {
		sum += work(i)
	}
	fmt.Println(sum)
}
"""


def usdt_expected(n: int) -> dict[str, list[list[int]]]:
    """The arguments each USDT probe of the USDT target passes for ``n``, firing by firing
    (as the signed 64-bit values ``bpf_usdt_arg`` gives)."""

    def s64(v: int) -> int:
        v &= (1 << 64) - 1
        return v - (1 << 64) if v >> 63 else v

    def sx(v: int, bits: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    return {
        "consts": [[-3, 250, -1234, 60000, -100000, 4000000000, -5000000000,
                    s64(0xFEDCBA9876543210)]],
        "regs": [[sx(n - 10, 8), (n * 1000) & 0xFFFF, sx(-n, 32), s64(n * -3000000000)]],
        "mem": [[sx(-n, 8), (65000 + n) & 0xFFFF, sx(-100000 * n, 32),
                 s64(0xFEDCBA9876543210 + n)]],
        "multi": [[i, 1 if i % 2 else 2] for i in range(n)],
        "gated": [[n]],
    }


@dataclass(frozen=True)
class Targets:
    dir: Path
    pie: Path           # the C target, position-independent
    nopie: Path         # the same, linked at fixed addresses
    lib: Path           # libuptarget.so, which both use
    usdt_o2: Path       # the USDT target, -O2 (PIE)
    usdt_o0: Path       # the USDT target, -O0 (PIE)
    usdt_nopie: Path    # the USDT target, -O2, not position-independent


def build_targets(d: Path) -> Targets:
    require_tool("gcc")
    (d / "target.c").write_text(TARGET_C)
    (d / "lib.c").write_text(LIB_C)
    (d / "usdt_main.c").write_text(USDT_MAIN_C)
    (d / "usdt_sema.c").write_text(USDT_SEMA_C)
    lib = d / "libuptarget.so"
    run("gcc", "-O2", "-fPIC", "-shared", "-o", lib, d / "lib.c")
    link = ("-L", str(d), "-luptarget", "-Wl,-rpath," + str(d))
    run("gcc", "-O2", "-fPIE", "-pie", "-o", d / "target_pie", d / "target.c", *link)
    run("gcc", "-O2", "-fno-pie", "-no-pie", "-o", d / "target_nopie", d / "target.c", *link)
    for name, flags in (("usdt_o2", ("-O2", "-fPIE", "-pie")),
                        ("usdt_o0", ("-O0", "-fPIE", "-pie")),
                        ("usdt_nopie", ("-O2", "-fno-pie", "-no-pie"))):
        run("gcc", *flags, "-o", d / name, d / "usdt_main.c", d / "usdt_sema.c")
    return Targets(d, d / "target_pie", d / "target_nopie", lib, d / "usdt_o2",
                   d / "usdt_o0", d / "usdt_nopie")


def build_go_stripped(d: Path) -> Path:
    """The Go target, built with ``-ldflags=-s -w`` (no symbol tables: only .gopclntab)."""
    go = require_tool("go")
    src = d / "gotarget"
    src.mkdir(exist_ok=True)
    (src / "main.go").write_text(GO_MAIN)
    (src / "go.mod").write_text("module gotarget\n\ngo 1.17\n")
    cache = Path(tempfile.gettempdir()) / "ebpf-tests-gocache"
    env = dict(os.environ, GOCACHE=str(cache), GOPATH=str(src / "gopath"),
               GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0", GO111MODULE="on")
    out = d / "go_stripped"
    run(go, "build", "-o", out, "-ldflags=-s -w", ".", cwd=src, env=env)
    return out


class Started:
    """A started target, waiting for :meth:`go`."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.pid = self.proc.pid

    def go(self) -> str:
        """Let it run; its standard output once it exited with status 0."""
        out, err = self.proc.communicate(b"g", timeout=60)
        assert self.proc.returncode == 0, (self.proc.returncode, out, err)
        return out.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@contextmanager
def started(*argv: str | Path, env: dict[str, str] | None = None) -> Iterator[Started]:
    s = Started([str(a) for a in argv], env)
    try:
        yield s
    finally:
        s.kill()


def perf_fds() -> int:
    """How many perf event descriptors this process holds."""
    n = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:[perf_event]":
                n += 1
        except OSError:
            pass
    return n


def instruction_addresses(path: Path, symbol: str) -> list[int]:
    """The addresses of the instructions of function ``symbol``, by ``objdump -d``."""
    require_tool("objdump")
    text = run("objdump", "-d", "-w", f"--disassemble={symbol}", path)
    return [int(m.group(1), 16) for m in re.finditer(r"^\s*([0-9a-f]+):\t", text, re.M)]


# The programs a kernel without uprobe_multi (6.6) or sessions (6.13) cannot load, and the
# probe that says whether it can.
NEEDS = {"multi_entry": have_uprobe_multi, "multi_return": have_uprobe_multi,
         "session": have_uprobe_session}
SINCE = {have_uprobe_multi: (6, 6), have_uprobe_session: (6, 13)}


def uprobe_spec() -> ebpf.CollectionSpec:
    """testdata/uprobe.c without the programs this kernel cannot load."""
    spec = load_collection_spec(TESTDATA / "uprobe-el.elf")
    for name, probe in NEEDS.items():
        try:
            probe()
        except UnsupportedFeatureError:
            del spec.programs[name]
    return spec


def require(probe: Callable[[], None]) -> None:
    """Skip, with the probe's reason, on a kernel that lacks what ``probe`` probes for (a
    failure under EBPF_REQUIRE_KERNEL=1 on a kernel that should have it)."""
    try:
        probe()
    except UnsupportedFeatureError as e:
        if REQUIRE_KERNEL and kernel_version() >= SINCE[probe]:
            raise
        pytest.skip(str(e))
