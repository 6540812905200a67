"""Extern helpers of the loader that need no kernel: /proc/kallsyms parsing."""

from __future__ import annotations

from ebpf.internal.kallsyms import Kallsyms


def _kallsyms_lookup(text: bytes, name: str) -> int | None:
    return Kallsyms(text).address(name)

KALLSYMS = (b"ffffffff81000000 T _stext\n"
            b"ffffffff81001000 T tcp_v4_connect\n"
            b"ffffffff81002000 t tcp_v4_connect_helper\n"
            b"ffffffff81003000 T xtcp_v4_connect\n"
            b"ffffffffc0001000 t mod_func\t[some_module]\n"
            b"ffffffff81004000 T last_symbol")


def test_lookup_exact_names() -> None:
    assert _kallsyms_lookup(KALLSYMS, "tcp_v4_connect") == 0xFFFFFFFF81001000
    assert _kallsyms_lookup(KALLSYMS, "xtcp_v4_connect") == 0xFFFFFFFF81003000
    assert _kallsyms_lookup(KALLSYMS, "mod_func") == 0xFFFFFFFFC0001000
    assert _kallsyms_lookup(KALLSYMS, "_stext") == 0xFFFFFFFF81000000


def test_lookup_missing_names() -> None:
    assert _kallsyms_lookup(KALLSYMS, "tcp_v4") is None
    assert _kallsyms_lookup(KALLSYMS, "connect") is None
    assert _kallsyms_lookup(b"", "x") is None
