"""The error tree: what each error says, what it is also an instance of, and pickling."""

from __future__ import annotations

import errno
import pickle

import pytest

from ebpf.errors import (
    BTFError,
    ClosedError,
    EbpfError,
    ELFError,
    KeyExistsError,
    KeyNotFoundError,
    NotSupportedError,
    SyscallError,
    UnsupportedFeatureError,
    VerifierError,
)


def test_syscall_error_names_command_errno_and_context() -> None:
    e = SyscallError(errno.EPERM, "BPF_PROG_LOAD", "load program 'x'")
    assert isinstance(e, OSError) and isinstance(e, EbpfError)
    assert e.errno == errno.EPERM and e.cmd == "BPF_PROG_LOAD"
    assert str(e) == "load program 'x': BPF_PROG_LOAD: Operation not permitted (EPERM)"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is SyscallError and str(again) == str(e)


def test_kernel_internal_errno_has_a_name() -> None:
    e = SyscallError(524, "BPF_BTF_LOAD")
    assert "ENOTSUPP" in str(e) and "Unknown error" not in str(e)


def test_key_errors_are_key_errors_and_os_errors() -> None:
    e = KeyNotFoundError(context="look up in map 'm'")
    assert isinstance(e, KeyError) and isinstance(e, OSError) and isinstance(e, SyscallError)
    assert e.errno == errno.ENOENT and "look up in map 'm'" in str(e)
    with pytest.raises(KeyError):
        raise e
    k = KeyExistsError()
    assert k.errno == errno.EEXIST and not isinstance(k, KeyError)
    assert type(pickle.loads(pickle.dumps(e))) is KeyNotFoundError


def test_unsupported_feature_error() -> None:
    e = UnsupportedFeatureError("BPF_MAP_TYPE_RINGBUF", "5.8")
    assert isinstance(e, NotSupportedError)
    assert e.feature == "BPF_MAP_TYPE_RINGBUF" and e.min_version == "5.8"
    assert str(e) == "BPF_MAP_TYPE_RINGBUF is not supported by this kernel (requires Linux 5.8)"


def test_located_errors_say_where() -> None:
    assert str(ELFError("bad relocation", section=".text", offset=0x18)) == (
        "section '.text', offset 0x18: bad relocation")
    assert str(BTFError("loop", type_id=7)) == "type id 7: loop"
    assert str(ELFError("no sections")) == "no sections"
    assert isinstance(ClosedError("x"), ValueError)


def test_verifier_error_summary_and_log() -> None:
    log = ["func#0 @0", "0: R1=ctx() R10=fp0", "0: (bf) r0 = r2", "R2 !read_ok",
           "processed 1 insns (limit 1000000) max_states_per_insn 0"]
    e = VerifierError("load program 'p'", log, err=errno.EACCES)
    s = str(e)
    assert s.startswith("load program 'p': verifier rejected the program (EACCES):")
    assert "R2 !read_ok" in s and "processed 1 insns" not in s
    assert e.log == tuple(log) and not e.truncated
    assert e.format_log() == "\n".join(log)
    short = e.format_log(head=1, tail=1)
    assert short.splitlines() == [log[0], "... (3 lines) ...", log[-1]]
