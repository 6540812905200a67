#!/usr/bin/env python3
"""Fuzz the parsers for a while: the ELF reader, BTF, .BTF.ext and the instruction decoder.

    python3 scripts/fuzz.py --minutes 10                 # all targets, the time split evenly
    python3 scripts/fuzz.py --minutes 5 --target btf     # one target (elf, btf, btf_ext, insn)
    python3 scripts/fuzz.py --minutes 1 --coverage off   # faster, blind mutations

The targets, seeds and mutations are in ``tests/fuzz/harness.py``. hypothesis draws the
mutations; the run is coverage-guided: every input that reaches code of ``ebpf/`` (a call site,
or with ``--coverage lines`` a line) that no input reached before joins the pool the next
mutations start from (besides the seeds from ``testdata/`` and ``examples/bpf/``), and
hypothesis' ``target()`` steers towards inputs that reach new code.

An input that raises anything but an ``ebpf`` error, runs past ``--timeout`` seconds or exhausts
the memory limit is a finding: it is saved to ``tests/fuzz/corpus/<target>/`` (where
``tests/fuzz/test_fuzz.py`` replays it in every test run) and reported at the end. The exit status
is 1 when something was found, else 0.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings, target  # noqa: E402

from tests.fuzz import harness  # noqa: E402

_EBPF = str(ROOT / "ebpf") + os.sep


class Coverage:
    """What of ``ebpf/`` an input executed, through ``sys.settrace``.

    ``calls`` (the default) records call sites: (caller, line of the call, callee) for every
    call into ``ebpf/``, which costs only a call event per function. ``lines`` records every
    line executed in ``ebpf/``: finer, and several times slower.
    """

    def __init__(self, mode: str) -> None:
        self.seen: set[tuple[object, ...]] = set()
        self.now: set[tuple[object, ...]] = set()
        self.mode = mode

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if not code.co_filename.startswith(_EBPF):
            return None
        if self.mode == "lines":
            return self._line
        back = frame.f_back
        if back is not None:
            self.now.add((back.f_code, back.f_lineno, code))
        return None

    def _line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.now.add((frame.f_code, frame.f_lineno))
        return self._line

    def run(self, name: str, data: bytes, seconds: float) -> tuple[harness.Outcome, int]:
        """Run the target; returns its outcome and how many sites or lines were new."""
        self.now = set()
        sys.settrace(self._call)
        try:
            outcome = harness.run(name, data, seconds=seconds)
        finally:
            sys.settrace(None)
        new = self.now - self.seen
        self.seen |= new
        return outcome, len(new)


class _TimeUp(Exception):
    """The target's share of the time is over (ends hypothesis' loop)."""


class Stats:
    def __init__(self) -> None:
        self.execs = 0
        self.accepted = 0
        self.pool_added = 0
        self.findings: dict[str, Path] = {}


def fuzz(name: str, seconds: float, *, coverage: str, timeout: float) -> Stats:
    stats = Stats()
    cov = Coverage(coverage) if coverage != "off" else None
    extra: list[harness.Seed] = []
    end = time.monotonic() + seconds

    def one(data: bytes) -> None:
        if time.monotonic() > end:
            raise _TimeUp
        stats.execs += 1
        if cov is not None:
            outcome, new = cov.run(name, data, timeout)
            target(float(new))
            if new and outcome.error is None:
                extra.append(harness.Seed(f"found-{len(extra)}", data))
                stats.pool_added += 1
        else:
            outcome = harness.run(name, data, seconds=timeout)
        stats.accepted += outcome.accepted
        if outcome.error is not None:
            where = harness.describe(outcome.error).rsplit(" (at ", 1)[-1]
            if where not in stats.findings:
                path = harness.save_finding(name, data)
                stats.findings[where] = path
                print(f"  {name}: FOUND {harness.describe(outcome.error)} -> "
                      f"{path.relative_to(ROOT)}", flush=True)

    while time.monotonic() < end:
        # Chunks of examples, each drawn from the pool as it stood when the chunk began (a
        # strategy whose pool changes under it would confuse hypothesis).
        strategy = harness.strategy(name, tuple(extra))
        run = settings(max_examples=10**9 if cov is None else 2000, deadline=None,
                       database=None, phases=[Phase.generate, Phase.target],
                       suppress_health_check=list(HealthCheck))(given(strategy)(one))
        try:
            run()
        except _TimeUp:
            break
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, required=True, help="total time to fuzz")
    p.add_argument("--target", choices=harness.TARGETS, action="append",
                   help="fuzz only this target (repeatable); default: all")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds one input may take before it counts as a hang (default 5)")
    p.add_argument("--memory", type=int, default=4096,
                   help="address-space limit in MiB; running out is a finding (default 4096)")
    p.add_argument("--coverage", choices=("calls", "lines", "off"), default="calls",
                   help="what guides the mutations: new call sites in ebpf/ (default), new "
                        "lines (slower), or nothing (blind, fastest)")
    args = p.parse_args(argv)
    targets = args.target or list(harness.TARGETS)
    # hypothesis renders the example that ended a chunk (megabytes of repr): not a finding.
    warnings.simplefilter("ignore")
    limit = args.memory << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    share = args.minutes * 60 / len(targets)
    found = 0
    print(f"fuzzing {', '.join(targets)} for {args.minutes} min "
          f"({share:.0f} s each, coverage: {args.coverage})", flush=True)
    for name in targets:
        seeds = len(harness.seeds(name))
        start = time.monotonic()
        stats = fuzz(name, share, coverage=args.coverage, timeout=args.timeout)
        took = time.monotonic() - start
        found += len(stats.findings)
        print(f"{name}: {stats.execs} executions in {took:.0f} s ({stats.execs / took:.0f}/s), "
              f"{stats.accepted} read without error, {seeds} seeds + {stats.pool_added} "
              f"inputs that reached new code, {len(stats.findings)} findings", flush=True)
    if found:
        print(f"{found} findings saved under {harness.CORPUS.relative_to(ROOT)}/")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
