"""BTF objects in the kernel: load a spec (``BPF_BTF_LOAD``), open one by id, read its info.

This is the only module of ``ebpf.btf`` that talks to the kernel. It also holds the feature
probes that decide which kinds must be rewritten before loading (see
:class:`~ebpf.btf.marshal.MarshalOptions`); each probe loads a tiny blob once per process.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from ebpf.btf.marshal import Builder, MarshalOptions, marshal_spec
from ebpf.btf.parse import BTF_MAGIC, HEADER_SIZE, NATIVE_ORDER
from ebpf.btf.spec import Spec, load_spec_from_bytes
from ebpf.btf.types import Type
from ebpf.errors import BTFError, NotSupportedError, SyscallError
from ebpf.internal.feature import feature_test
from ebpf.internal.sys import FD, BtfInfo, BtfLoadAttr, commands

__all__ = ["BTFLoadError", "Handle", "HandleInfo", "detect_marshal_options", "have_btf",
           "have_datasec", "have_decl_tag", "have_enum64", "have_float", "have_func",
           "have_func_linkage", "have_type_tag", "kernel_handle_ids"]

#: Log buffer used when a load fails and is retried to get the kernel's reasons.
_LOG_SIZE = 1 << 20


class BTFLoadError(BTFError):
    """The kernel rejected a BTF blob; ``str()`` ends with the last lines of its log.

    Attributes:
        log: the kernel's whole BTF verifier log.
    """

    def __init__(self, message: str, *, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class HandleInfo:
    """``struct bpf_btf_info`` of a loaded BTF object.

    Attributes:
        id: the kernel's id of the object.
        name: ``"vmlinux"``, a module's name, or ``""`` for BTF loaded by a program.
        size: size of the raw blob in bytes.
        kernel_btf: True for vmlinux and module BTF.
    """

    id: int
    name: str
    size: int
    kernel_btf: bool


def _load_blob(blob: bytes, what: str) -> FD:
    buf = ctypes.create_string_buffer(blob, len(blob))
    attr = BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob))
    try:
        return commands.btf_load(attr, what)
    except SyscallError as first:
        if first.errno not in (errno.EINVAL, errno.E2BIG):
            raise
        log = ctypes.create_string_buffer(_LOG_SIZE)
        attr = BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob),
                           btf_log_buf=ctypes.addressof(log), btf_log_size=_LOG_SIZE,
                           btf_log_level=1)
        try:
            fd = commands.btf_load(attr, what)
        except SyscallError:
            text = log.value.decode(errors="replace").strip()
            raise BTFLoadError(f"{what}: the kernel rejected the BTF ({first.strerror})"
                               + (f":\n{_tail(text)}" if text else ""), log=text) from first
        return fd  # pragma: no cover - accepted with a log but not without one


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


class Handle:
    """A BTF object in the kernel. Owns one file descriptor.

    Build one with :meth:`from_spec`, :meth:`from_bytes` or :meth:`from_id`. ``close()`` (or
    leaving a ``with`` block) releases it; programs and maps that use it keep their own
    reference in the kernel.
    """

    __slots__ = ("_builder", "_fd")

    def __init__(self, fd: FD, builder: Builder | None = None) -> None:
        """Take ownership of ``fd`` (an fd of a BTF object)."""
        self._fd = fd
        self._builder = builder

    @classmethod
    def from_bytes(cls, blob: bytes, *, what: str = "load BTF",
                   builder: Builder | None = None) -> Handle:
        """Load a raw BTF blob as it is; ``builder``, if it made the blob, lets
        :meth:`type_id` give the ids of its types.

        Raises:
            BTFError: the kernel rejected it (the message ends with the kernel's log).
            SyscallError: the load failed for another reason (e.g. EPERM).
        """
        return cls(_load_blob(blob, what), builder)

    @classmethod
    def from_spec(cls, spec: Spec, *, options: MarshalOptions | None = None) -> Handle:
        """Load every type of ``spec``, ids unchanged, rewritten for this kernel.

        ``options`` default to :func:`detect_marshal_options`.
        """
        opts = options if options is not None else detect_marshal_options()
        return cls(_load_blob(marshal_spec(spec, opts), "load BTF"))

    @classmethod
    def from_types(cls, types: list[Type], *, options: MarshalOptions | None = None) -> Handle:
        """Load ``types`` and what they reference; :meth:`type_id` gives their ids."""
        opts = options if options is not None else detect_marshal_options()
        b = Builder(opts)
        for t in types:
            b.add(t)
        blob = b.marshal()
        return cls(_load_blob(blob, "load BTF"), b)

    @classmethod
    def from_id(cls, btf_id: int) -> Handle:
        """Open the kernel's BTF object ``btf_id`` (needs CAP_SYS_ADMIN).

        Raises:
            SyscallError: no such object (ENOENT) or no permission.
        """
        return cls(commands.btf_get_fd_by_id(btf_id, f"open BTF id {btf_id}"))

    def type_id(self, t: Type) -> int:
        """The id of ``t`` in a handle made by :meth:`from_types`."""
        if self._builder is None:
            raise BTFError("type ids are only known for handles made from types")
        return self._builder.type_id(t)

    @property
    def fd(self) -> int:
        """The descriptor number, lent for the duration of a call.

        Raises:
            ClosedError: the handle was closed.
        """
        return self._fd.raw

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd.closed

    def info(self) -> HandleInfo:
        """The kernel's description of this object."""
        name = ctypes.create_string_buffer(256)
        info = BtfInfo(name=ctypes.addressof(name), name_len=256)
        commands.obj_get_info_by_fd(self.fd, info, "BTF info")
        return HandleInfo(id=int(info.id), name=name.value.decode(errors="replace"),
                          size=int(info.btf_size), kernel_btf=bool(info.kernel_btf))

    def raw(self) -> bytes:
        """The raw blob the kernel holds for this object."""
        size = self.info().size
        buf = ctypes.create_string_buffer(size)
        info = BtfInfo(btf=ctypes.addressof(buf), btf_size=size)
        commands.obj_get_info_by_fd(self.fd, info, "BTF info")
        return buf.raw[:int(info.btf_size)]

    def spec(self, base: Spec | None = None) -> Spec:
        """Parse the object's BTF (module BTF needs the vmlinux spec as ``base``)."""
        return load_spec_from_bytes(self.raw(), base=base)

    def clone(self) -> Handle:
        """A new handle on the same object (a dup of the descriptor)."""
        return Handle(self._fd.dup(), self._builder)

    def close(self) -> None:
        """Release the descriptor. Idempotent."""
        self._fd.close()

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<btf.Handle closed>"
        return f"<btf.Handle fd={self.fd}>"


def kernel_handle_ids() -> Iterator[int]:
    """The ids of every BTF object in the kernel (needs CAP_SYS_ADMIN)."""
    start = 0
    while True:
        nxt = commands.btf_get_next_id(start)
        if nxt is None:
            return
        yield nxt
        start = nxt


# ---- feature probes
#
# Each probe loads a constant blob: the words of its type section and its string section, as
# the Builder (with default options) encodes the types named in its docstring
# (tests/unit/test_btf_marshal.py checks that they agree).


def _probe(words: tuple[int, ...], strings: bytes, what: str) -> None:
    """Load a tiny blob untouched; EINVAL means the kernel does not know one of its kinds."""
    types = struct.pack(f"{NATIVE_ORDER}{len(words)}I", *words)
    buf = struct.pack(NATIVE_ORDER + "HBBIIIII", BTF_MAGIC, 1, 0, HEADER_SIZE, 0, len(types),
                      len(types), len(strings)) + types + strings
    cbuf = ctypes.create_string_buffer(buf, len(buf))
    try:
        commands.btf_load(BtfLoadAttr(btf=ctypes.addressof(cbuf), btf_size=len(buf)),
                          f"probe {what}").close()
    except SyscallError as e:
        if e.errno == errno.EINVAL:
            raise NotSupportedError(f"BPF_BTF_LOAD rejects {what}") from e
        raise


_INT_WORDS = (0x1000000, 4, 0x1000020)  # INT "int" (name, at string 1 or later, comes first)


@feature_test("BTF", "4.18")
def have_btf() -> None:
    """Probe: ``BPF_BTF_LOAD`` exists (``Pointer(int)``)."""
    _probe((0, 0x2000000, 2, 1, *_INT_WORDS), b"\0int\0", "BTF")


@feature_test("BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO", "5.0")
def have_func() -> None:
    """Probe: functions and prototypes (``Func("a", FuncProto(int), STATIC)``)."""
    _probe((1, 0xC000000, 2, 0, 0xD000000, 3, 3, *_INT_WORDS), b"\0a\0int\0", "FUNC")


@feature_test("BTF_KIND_FUNC with global linkage", "5.6")
def have_func_linkage() -> None:
    """Probe: functions with global linkage (``Func("a", FuncProto(int), GLOBAL)``)."""
    _probe((1, 0xC000001, 2, 0, 0xD000000, 3, 3, *_INT_WORDS), b"\0a\0int\0",
           "global functions")


@feature_test("BTF_KIND_VAR and BTF_KIND_DATASEC", "5.2")
def have_datasec() -> None:
    """Probe: global variables and data sections (``Datasec(".data", 4, [VarSecinfo(
    Var("a", int, STATIC), 0, 4)])``)."""
    _probe((1, 0xF000001, 4, 2, 0, 4, 7, 0xE000000, 3, 0, 9, *_INT_WORDS),
           b"\0.data\0a\0int\0", "DATASEC")


@feature_test("BTF_KIND_FLOAT", "5.13")
def have_float() -> None:
    """Probe: floating point types (``Float("float", 4)``)."""
    _probe((1, 0x10000000, 4), b"\0float\0", "FLOAT")


@feature_test("BTF_KIND_DECL_TAG", "5.16")
def have_decl_tag() -> None:
    """Probe: declaration tags (``DeclTag("tag", Struct("s", 4, []), -1)``)."""
    _probe((1, 0x11000000, 2, 0xFFFFFFFF, 5, 0x4000000, 4), b"\0tag\0s\0", "DECL_TAG")


@feature_test("BTF_KIND_TYPE_TAG", "5.17")
def have_type_tag() -> None:
    """Probe: type tags (``Pointer(TypeTag("tag", int))``)."""
    _probe((0, 0x2000000, 2, 1, 0x12000000, 3, 5, *_INT_WORDS), b"\0tag\0int\0", "TYPE_TAG")


@feature_test("BTF_KIND_ENUM64", "6.0")
def have_enum64() -> None:
    """Probe: 64-bit enums (``Enum64("e", 8, [EnumValue("A", 1 << 40)])``)."""
    _probe((1, 0x13000001, 8, 3, 0, 256), b"\0e\0A\0", "ENUM64")


def _supported(probe: object) -> bool:
    try:
        probe()  # type: ignore[operator]
    except NotSupportedError:
        return False
    return True


_detected: list[MarshalOptions] = []

# Raw kind numbers, for detect_marshal_options(kinds=...).
_FUNC_K, _FUNC_PROTO_K, _VAR_K, _DATASEC_K = 12, 13, 14, 15
_FLOAT_K, _DECL_TAG_K, _TYPE_TAG_K, _ENUM64_K = 16, 17, 18, 19


def detect_marshal_options(kinds: frozenset[int] | None = None) -> MarshalOptions:
    """The rewrites this kernel needs, from the probes above (memoised).

    With ``kinds``, the raw kind numbers of every type to be written, only the probes that
    decide how those kinds are written run (as libbpf probes lazily), and the rewrites of
    absent kinds are left off: they would change nothing. (A ``DECL_TAG`` is rewritten with
    the ``VAR`` or ``FUNC`` it tags, which is then among the kinds.)

    Raises:
        NotSupportedError: the kernel has no BTF support at all.
        SyscallError: a probe could not run (e.g. no privileges); nothing is cached then.
    """
    if _detected:
        return _detected[0]
    if kinds is None:
        have_btf()
    loaded = False  # whether some probe's blob was accepted

    def lacks(probe: object, *wanted: int) -> bool:
        nonlocal loaded
        if kinds is not None and kinds.isdisjoint(wanted):
            return False
        if _supported(probe):
            loaded = True
            return False
        return True

    opts = MarshalOptions(
        byte_order=NATIVE_ORDER,
        strip_decl_tags=lacks(have_decl_tag, _DECL_TAG_K),
        replace_type_tags=lacks(have_type_tag, _TYPE_TAG_K),
        replace_float=lacks(have_float, _FLOAT_K),
        replace_enum64=lacks(have_enum64, _ENUM64_K),
        replace_datasec=lacks(have_datasec, _VAR_K, _DATASEC_K),
        replace_func_linkage=lacks(have_func_linkage, _FUNC_K),
        replace_funcs=lacks(have_func, _FUNC_K, _FUNC_PROTO_K),
        fixup_externs=True,
    )
    if kinds is None:
        _detected.append(opts)
    elif not loaded:
        have_btf()  # no probe showed that the kernel loads BTF at all
    return opts
