"""The errors of resolving uprobe/USDT targets (ebpf.errors): bases, messages, pickling."""

from __future__ import annotations

import pickle

import pytest

from ebpf.errors import (
    AmbiguousSymbolError,
    EbpfError,
    IndirectFunctionError,
    LdCacheError,
    SymbolNotFoundError,
    TargetNotFoundError,
    USDTArgumentError,
    USDTNotFoundError,
)

ERRORS = [
    (TargetNotFoundError("libfoo", ["LD_LIBRARY_PATH=/x", "/etc/ld.so.cache"], "library"),
     FileNotFoundError, ["'libfoo'", "/etc/ld.so.cache"]),
    (SymbolNotFoundError("/bin/x", ["mallocc"], ["malloc"], "where"), LookupError,
     ["'mallocc'", "/bin/x", "'malloc'"]),
    (SymbolNotFoundError("/bin/x", ["a", "b"]), LookupError, ["2 functions", "'a', 'b'"]),
    (AmbiguousSymbolError("/bin/x", "dup", ["dup at 0x10", "dup at 0x20"]), LookupError,
     ["'dup'", "0x10", "0x20"]),
    (IndirectFunctionError("/lib/libc.so.6", "memcpy"), LookupError, ["STT_GNU_IFUNC"]),
    (USDTNotFoundError("/bin/x", "p", "n", ["p:m"]), LookupError, ["p:n", "p:m"]),
    (USDTArgumentError("p:n", 2, "4@%ah", "why"), ValueError, ["p:n", "#2", "'4@%ah'", "why"]),
    (LdCacheError("bad", path="/etc/ld.so.cache", offset=16), ValueError,
     ["'/etc/ld.so.cache'", "0x10", "bad"]),
]


@pytest.mark.parametrize(("err", "base", "parts"), ERRORS)
def test_error(err: EbpfError, base: type[Exception], parts: list[str]) -> None:
    assert isinstance(err, EbpfError) and isinstance(err, base)
    for p in parts:
        assert p in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is type(err) and str(again) == str(err)
