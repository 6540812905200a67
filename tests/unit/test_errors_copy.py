"""Every exception class of the package survives ``copy.copy``, ``copy.deepcopy`` and
``pickle`` with its message and its fields.

The loader wraps errors with ``copy.copy`` to add the name of the object that failed, and
errors cross process boundaries (multiprocessing, pytest-xdist) by pickling: a class whose
constructor cannot be called again with ``self.args`` used to turn a BTF load error into a
``TypeError`` about a missing ``log`` argument.
"""

from __future__ import annotations

import copy
import errno
import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Callable

import ebpf
from ebpf import errors, errors as targets
from ebpf.asm.instruction import InstructionError, UnresolvedReferenceError
from ebpf.btf.handle import BTFLoadError
from ebpf.btf.spec import NotFoundError
from ebpf.btf.values import BTFTypeError, BTFValueError
from ebpf.cli import CommandError
from ebpf.gen import GenerateError
from ebpf.histogram import HistogramError
from ebpf.link import MissingTargetError


def _all_exception_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(ebpf.__path__, "ebpf."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("ebpf."):
                found.add(obj)
    return found


# One instance of every class, with every field it has set to something other than its default.
SAMPLES: dict[type[BaseException], Callable[[], BaseException]] = {
    CommandError: lambda: CommandError("no program with id 7", 3),
    GenerateError: lambda: GenerateError("prog.c: clang failed"),
    HistogramError: lambda: HistogramError("slot 3: count -1 is negative"),
    errors.EbpfError: lambda: errors.EbpfError("something failed"),
    errors.SyscallError: lambda: errors.SyscallError(errno.EPERM, "BPF_PROG_LOAD", "load 'x'"),
    errors.KeyNotFoundError: lambda: errors.KeyNotFoundError(
        errno.ENOENT, "BPF_MAP_LOOKUP_ELEM", "look up in map 'm' (key 1)"),
    errors.KeyExistsError: lambda: errors.KeyExistsError(
        errno.EEXIST, "BPF_MAP_UPDATE_ELEM", "update map 'm'"),
    errors.NotSupportedError: lambda: errors.NotSupportedError("no ring buffers"),
    errors.UnsupportedFeatureError: lambda: errors.UnsupportedFeatureError(
        "BPF_MAP_TYPE_RINGBUF", "5.8", "map create said EINVAL"),
    errors.ClosedError: lambda: errors.ClosedError("map 'm' is closed"),
    errors.MarshalError: lambda: errors.MarshalError("key of map 'm': expected 4 bytes"),
    errors.ELFError: lambda: errors.ELFError("bad relocation", section=".text", offset=0x18,
                                             file="prog.o"),
    errors.BTFError: lambda: errors.BTFError("bad member", type_id=12, offset=0x40),
    errors.COREError: lambda: errors.COREError("relocation 3: no candidate"),
    errors.VerifierError: lambda: errors.VerifierError(
        "load program 'p'", ["0: (b7) r0 = 0", "R0 !read_ok", "processed 1 insns"],
        err=errno.EACCES, truncated=True),
    BTFLoadError: lambda: BTFLoadError("load BTF: the kernel rejected the BTF (Invalid argument)",
                                       log="[1] STRUCT foo size=4 vlen=1\nInvalid member"),
    NotFoundError: lambda: NotFoundError("no type named 'task_struct'", type_id=7),
    BTFValueError: lambda: BTFValueError("300 does not fit unsigned char", type_id=3,
                                         path=("slots", 2)),
    BTFTypeError: lambda: BTFTypeError("unsigned int needs an int, not str", offset=8,
                                       path=("hdr", "len")),
    errors.NetlinkError: lambda: errors.NetlinkError(
        errno.EBUSY, "RTM_SETLINK", "attach XDP program", extack="XDP program already attached"),
    errors.BusyError: lambda: errors.BusyError("reader 'events': another thread is reading"),
    targets.TargetNotFoundError: lambda: targets.TargetNotFoundError(
        "libfoo.so", ["/lib", "/usr/lib"], "not in ld.so.cache"),
    targets.SymbolNotFoundError: lambda: targets.SymbolNotFoundError(
        "/bin/true", ["mallocx"], ["malloc"], where=".dynsym"),
    targets.AmbiguousSymbolError: lambda: targets.AmbiguousSymbolError(
        "/bin/true", "f", ["f at 0x10", "f at 0x20"]),
    targets.IndirectFunctionError: lambda: targets.IndirectFunctionError(
        "/lib/libc.so.6", "memcpy", ["__memcpy_avx"]),
    targets.USDTNotFoundError: lambda: targets.USDTNotFoundError(
        "/bin/app", "prov", "probe", ["prov:other"]),
    targets.USDTArgumentError: lambda: targets.USDTArgumentError(
        "prov:probe", 2, "-4@(%rax,%rbx,2)", "base+index*scale operands are not supported"),
    targets.LdCacheError: lambda: targets.LdCacheError("bad header", path="/etc/ld.so.cache",
                                                       offset=12),
    MissingTargetError: lambda: MissingTargetError(
        "cannot attach program 'p': pass interface=...", program="p", section="xdp",
        argument="interface"),
    InstructionError: lambda: InstructionError("bad opcode", field="opcode", index=3,
                                               byte_offset=24),
    UnresolvedReferenceError: lambda: UnresolvedReferenceError(
        "call to missing function", reference="helper_fn", index=5, byte_offset=40),
}


def _internal(cls: type[BaseException]) -> bool:
    # Private control-flow exceptions (e.g. a CO-RE "poison this instruction" signal) are
    # never seen by users; they are checked below with no fields, as they have none.
    return cls.__name__.startswith("_")


def test_every_exception_class_has_a_sample() -> None:
    public = {c for c in _all_exception_classes() if not _internal(c)}
    assert public - set(SAMPLES) == set(), "add a sample for every new exception class"
    assert set(errors.__all__) <= {c.__name__ for c in SAMPLES}


def _fields(e: BaseException) -> dict[str, object]:
    out = dict(vars(e))
    if isinstance(e, OSError):
        out.update(errno=e.errno, strerror=e.strerror)
    return out


def _round_trips(e: BaseException) -> list[tuple[str, BaseException]]:
    out = [("copy", copy.copy(e)), ("deepcopy", copy.deepcopy(e))]
    out += [(f"pickle{p}", pickle.loads(pickle.dumps(e, protocol=p)))
            for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    return out


def test_every_exception_survives_copy_and_pickle() -> None:
    for cls, make in SAMPLES.items():
        e = make()
        assert type(e) is cls
        for how, again in _round_trips(e):
            where = f"{cls.__name__} through {how}"
            assert type(again) is cls, where
            assert str(again) == str(e), where
            assert again.args == e.args, where
            assert _fields(again) == _fields(e), where


def test_fields_survive_copy_and_pickle() -> None:
    # Spelled out for the classes whose constructors take keyword-only fields.
    load = SAMPLES[BTFLoadError]()
    ver = SAMPLES[errors.VerifierError]()
    feat = SAMPLES[errors.UnsupportedFeatureError]()
    for how, again in _round_trips(load):
        assert isinstance(again, BTFLoadError) and again.log == load.log, how
    for how, again in _round_trips(ver):
        assert isinstance(again, errors.VerifierError), how
        assert (again.log, again.truncated, again.errno, again.context) == (
            ver.log, True, errno.EACCES, "load program 'p'"), how
        assert again.format_log() == ver.format_log()
    for how, again in _round_trips(feat):
        assert isinstance(again, errors.UnsupportedFeatureError), how
        assert (again.feature, again.min_version) == ("BPF_MAP_TYPE_RINGBUF", "5.8"), how
        assert str(again) == str(feat), how


def test_internal_exceptions_survive_copy_and_pickle() -> None:
    internal = sorted((c for c in _all_exception_classes() if _internal(c)),
                      key=lambda c: c.__qualname__)
    for cls in internal:
        e = cls("why")
        for how, again in _round_trips(e):
            assert type(again) is cls and again.args == ("why",), how


def test_a_copy_with_a_new_message_keeps_the_fields() -> None:
    # What the loader does to name the object that failed: copy, then replace the message.
    e = SAMPLES[BTFLoadError]()
    new = copy.copy(e)
    new.args = (f"program 'p': {e}",)
    assert isinstance(new, BTFLoadError) and new.log == e.log
    assert str(new).startswith("program 'p': load BTF")
    v = SAMPLES[errors.VerifierError]()
    w = copy.copy(v)
    assert w.log == v.log and w.errno == errno.EACCES


def test_an_elf_error_named_after_the_fact_copies_as_named() -> None:
    e = errors.ELFError("bad relocation", section=".text", offset=0x18)
    e.name_file("prog.o")
    e.name_file("other.o")  # the first name stays
    assert str(e) == "file 'prog.o', section '.text', offset 0x18: bad relocation"
    for how, again in _round_trips(e):
        assert isinstance(again, errors.ELFError), how
        assert (str(again), again.file, again.message) == (str(e), "prog.o", "bad relocation")
