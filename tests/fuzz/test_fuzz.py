"""A short fuzzing pass over the parsers, and the replay of every input they once failed on.

The long runs are ``python3 scripts/fuzz.py --minutes N``; what they find lands in
``tests/fuzz/corpus/<target>/`` and is replayed here for good. The pass here is derandomised
(the same examples on every run) and takes a few seconds per target.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz import harness


def short(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck))


def check(target: str, data: bytes) -> harness.Outcome:
    outcome = harness.run(target, data)
    if outcome.error is not None:
        path = harness.save_finding(target, data)
        raise AssertionError(f"{target}: {harness.describe(outcome.error)}; input saved as "
                             f"{path.name}") from outcome.error
    return outcome


@pytest.mark.parametrize("target", harness.TARGETS)
def test_seeds(target: str) -> None:
    """Every seed is read without error: the mutations start from inputs that go deep."""
    seeds = harness.seeds(target)
    assert len(seeds) >= 20, target
    if target == "btf":
        # The costliest target: the little-endian half (the mutations start from all).
        seeds = [s for s in seeds if "-el.elf" in s.name]
    refused = [s.name for s in seeds if not check(target, s.data).accepted]
    assert not refused, refused


@pytest.mark.parametrize("target", harness.TARGETS)
def test_corpus(target: str) -> None:
    """Inputs a fuzzer once failed on: each gives a result or an ``ebpf`` error."""
    for path in harness.corpus_files(target):
        outcome = harness.run(target, path.read_bytes())
        assert outcome.error is None, f"{path.name}: {harness.describe(outcome.error)}"


@short(250)
@given(harness.strategy("elf"))
def test_fuzz_elf(data: bytes) -> None:
    check("elf", data)


@short(100)
@given(harness.strategy("btf"))
def test_fuzz_btf(data: bytes) -> None:
    check("btf", data)


@short(250)
@given(harness.strategy("btf_ext"))
def test_fuzz_btf_ext(data: bytes) -> None:
    check("btf_ext", data)


@short(250)
@given(harness.strategy("insn"))
def test_fuzz_insn(data: bytes) -> None:
    check("insn", data)


def test_mutants_reach_past_the_header() -> None:
    """Structure-aware mutations keep many inputs readable: the fuzzer tests more than the
    magic-number check."""
    accepted = 0
    refusals: list[str] = []

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(harness.mutants("elf"))
    def count(data: bytes) -> None:
        nonlocal accepted
        ok = check("elf", data).accepted
        accepted += ok
        if not ok and len(refusals) < 5:
            try:
                harness.RUNNERS["elf"](data)
            except Exception as e:  # the reason, for the message below
                refusals.append(f"{type(e).__name__}: {e}"[:200])

    count()
    assert accepted >= 5, (len(harness.seeds("elf")), refusals)
