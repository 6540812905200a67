"""The one entry point to ``bpf(2)``.

:func:`bpf` is the general path: it takes a ctypes attr structure, releases the GIL while the
kernel works, retries ``BPF_PROG_LOAD`` when the verifier was interrupted, and turns a failure
into :class:`~ebpf.errors.SyscallError`.

:class:`FastCall` is the hot path for map element commands, which the kernel answers in about a
microsecond. A general ctypes call of the variadic ``syscall(2)`` with four arguments costs more
than that, so a ``FastCall`` binds the command, the attr address and the attr size once and is
then called with no arguments. On x86_64 it runs a fixed machine-code trampoline that loads those
three values from a per-call data slot and executes ``syscall``; the code page is mapped
read+execute only after it is written and is never writable again, and the data page is never
executable. Both pages are private mappings, so a forked child works on copy-on-write copies:
nothing it binds, releases or frees at exit changes what the parent's calls do. Elsewhere (or
where the trampoline cannot be mapped or made executable, e.g. under memory-deny-write-execute,
or ``EBPF_NO_TRAMPOLINE=1``) it falls back to ``syscall(2)`` through ctypes with the same
interface. Both return the raw
kernel result: a non-negative value, or ``-errno``. The trampoline keeps the GIL during the call
(these commands never sleep for long), which also saves releasing and re-taking it.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import threading
import weakref
from collections.abc import Callable

from ...errors import SyscallError
from ._types import Cmd, command_name

__all__ = ["FastCall", "bpf", "bpf_raw", "trampoline_available"]

# __NR_bpf per architecture (from each arch's unistd tables).
_SYS_BPF = {
    "x86_64": 321,
    "amd64": 321,
    "i386": 357,
    "i686": 357,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "armv7l": 386,
    "armv6l": 386,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "mips64": 5315,
}

_MACHINE = os.uname().machine  # what platform.machine() returns, without importing platform
SYS_BPF: int | None = _SYS_BPF.get(_MACHINE)

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not a Unix with a C library
    _libc = None

_syscall: Callable[..., int] | None = None
if _libc is not None and hasattr(_libc, "syscall"):
    _fn = _libc.syscall
    _fn.restype = ctypes.c_long
    _syscall = _fn


def _require_syscall() -> Callable[..., int]:
    if _syscall is None or SYS_BPF is None:
        from ...errors import NotSupportedError

        raise NotSupportedError(f"bpf(2) is not available on this platform ({_MACHINE})")
    return _syscall


def bpf_raw(cmd: int, attr_addr: int, size: int) -> int:
    """Call ``bpf(cmd, attr_addr, size)``; return the result or ``-errno``. Never raises for
    kernel errors. The GIL is released during the call."""
    call = _require_syscall()
    assert SYS_BPF is not None
    ret: int = call(ctypes.c_long(SYS_BPF), ctypes.c_long(cmd), ctypes.c_void_p(attr_addr),
                    ctypes.c_ulong(size))
    if ret < 0:
        return -ctypes.get_errno()
    return ret


def bpf(cmd: int, attr: ctypes.Structure, context: str = "") -> int:
    """Call ``bpf(2)`` with ``attr``; return the kernel's non-negative result.

    ``BPF_PROG_LOAD`` is retried when it returns ``EAGAIN`` or ``EINTR`` (the verifier was
    interrupted by a signal); other commands are retried on ``EINTR`` only.

    Raises:
        SyscallError: the kernel refused; ``errno`` says why, ``cmd`` names the command.
        NotSupportedError: this platform has no ``bpf(2)``.
    """
    addr = ctypes.addressof(attr)
    size = ctypes.sizeof(attr)
    while True:
        ret = bpf_raw(cmd, addr, size)
        if ret >= 0:
            return ret
        err = -ret
        if err == errno.EINTR or (err == errno.EAGAIN and cmd == Cmd.PROG_LOAD):
            continue
        raise SyscallError(err, command_name(cmd), context)


# --- the fast path ---------------------------------------------------------------------------

# x86_64 trampoline, one per 32-byte slot of the code page; each reads its own 16-byte data
# slot (u32 cmd, u32 size, u64 attr) in the data page that follows, RIP-relative:
#   mov edi, [rip + d_cmd]     8b 3d rel32
#   mov edx, [rip + d_size]    8b 15 rel32
#   mov rsi, [rip + d_attr]    48 8b 35 rel32
#   mov eax, __NR_bpf          b8 imm32
#   syscall                    0f 05
#   ret                        c3
_PAGE = mmap.PAGESIZE
_CODE_SLOT = 32
_DATA_SLOT = 16
_SLOTS_PER_PAGE = min(_PAGE // _CODE_SLOT, _PAGE // _DATA_SLOT)


# One stub as (prefix, rel32) x 3 and the rest (mov eax; syscall; ret; int3 padding).
_STUB = struct.Struct("<2si2si3si13s")


def _x86_64_code_page() -> bytes:
    """The code page: the stub of every slot, built from one template.

    The stubs differ only in their displacements: each field a stub reads is ``_DATA_SLOT``
    bytes further on than the previous stub's, from code ``_CODE_SLOT`` bytes further on.
    """
    # Slot 0: a displacement counts from the end of its instruction (at 6, 12 and 19).
    d_cmd, d_size, d_attr = _PAGE + 0 - 6, _PAGE + 4 - 12, _PAGE + 8 - 19
    rest = (b"\xb8" + struct.pack("<I", _SYS_BPF["x86_64"]) + b"\x0f\x05\xc3").ljust(13, b"\xcc")
    step = _CODE_SLOT - _DATA_SLOT
    pack = _STUB.pack
    code = b"".join(pack(b"\x8b\x3d", d_cmd - i * step, b"\x8b\x15", d_size - i * step,
                         b"\x48\x8b\x35", d_attr - i * step, rest)
                    for i in range(_SLOTS_PER_PAGE))
    return code.ljust(_PAGE, b"\xcc")


class _TrampolinePage:
    """One code page (read+execute) of identical trampolines and its data page."""

    def __init__(self) -> None:
        libc = _libc
        if libc is None:
            raise OSError("no C library")
        # Private, not shared (mmap's default for anonymous memory): after fork() the child
        # gets copy-on-write pages, so nothing it binds or frees changes the parent's calls.
        mem = mmap.mmap(-1, 2 * _PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._mem = mem
        base = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        self.base = base
        mem[:_PAGE] = _x86_64_code_page()
        mprotect = libc.mprotect
        mprotect.restype = ctypes.c_int
        prot_rx = mmap.PROT_READ | mmap.PROT_EXEC
        if mprotect(ctypes.c_void_p(base), ctypes.c_size_t(_PAGE), ctypes.c_int(prot_rx)) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of the trampoline page failed")
        self.free = list(range(_SLOTS_PER_PAGE - 1, -1, -1))
        self.data = (ctypes.c_uint8 * (_SLOTS_PER_PAGE * _DATA_SLOT)).from_address(base + _PAGE)
        self.proto = ctypes.PYFUNCTYPE(ctypes.c_long)


_pages: list[_TrampolinePage] = []
_pages_lock = threading.Lock()
_trampoline_ok: bool | None = None


def trampoline_available() -> bool:
    """Whether :class:`FastCall` uses the machine-code trampoline on this host."""
    global _trampoline_ok
    if _trampoline_ok is None:
        _trampoline_ok = False
        if (_MACHINE in ("x86_64", "amd64") and os.environ.get("EBPF_NO_TRAMPOLINE") != "1"
                and _libc is not None):
            try:
                with _pages_lock:
                    _pages.append(_TrampolinePage())
                _trampoline_ok = True
            except (OSError, ValueError):
                _trampoline_ok = False
    return _trampoline_ok


def _alloc_slot() -> tuple[_TrampolinePage, int]:
    with _pages_lock:
        for page in _pages:
            if page.free:
                return page, page.free.pop()
        page = _TrampolinePage()
        _pages.append(page)
        return page, page.free.pop()


def _free_slot(page: _TrampolinePage, slot: int) -> None:
    # A finalizer: it may run while this very thread holds _pages_lock (the garbage collector
    # runs at any allocation), so it takes no lock. One append is atomic, and allocators
    # only ever see the list grow under them.
    struct.pack_into("<IIQ", page.data, slot * _DATA_SLOT, 0, 0, 0)
    page.free.append(slot)


def _after_fork_in_child() -> None:
    """The child has private copies of the pages and of their free lists, which agree with
    each other (every change to them is one step under the GIL); only the lock may be held,
    by a thread that does not exist in the child: release it."""
    if _pages_lock.locked():
        _pages_lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _closed_call() -> int:
    return -errno.EBADF


class FastCall:
    """A ``bpf(cmd, attr, size)`` call bound once and made with no arguments.

    ``call()`` returns the raw result: the kernel's non-negative return value or ``-errno``.
    The attr memory must stay alive (and at the same address) as long as this object; the
    caller keeps a reference. ``release()`` (or garbage collection) returns the trampoline slot
    for reuse; ``call`` then only answers ``-EBADF``.
    """

    __slots__ = ("__weakref__", "_finalizer", "call")

    call: Callable[[], int]

    def __init__(self, cmd: int, attr_addr: int, size: int) -> None:
        self._finalizer: weakref.finalize[..., FastCall] | None = None
        allocated = None
        if trampoline_available():
            try:
                allocated = _alloc_slot()
            except (OSError, ValueError):
                # A new page was refused executable memory (e.g. memory-deny-write-execute
                # set after the first page was made): this call and later ones go through
                # ctypes instead; calls already bound keep their slots.
                global _trampoline_ok
                _trampoline_ok = False
        if allocated is not None:
            page, slot = allocated
            struct.pack_into("<IIQ", page.data, slot * _DATA_SLOT, cmd, size, attr_addr)
            self.call = page.proto(page.base + slot * _CODE_SLOT)
            self._finalizer = weakref.finalize(self, _free_slot, page, slot)
        else:
            _require_syscall()

            def call(cmd: int = cmd, addr: int = attr_addr, size: int = size) -> int:
                return bpf_raw(cmd, addr, size)

            self.call = call

    def release(self) -> None:
        """Give the trampoline slot back; ``call`` answers ``-EBADF`` afterwards."""
        self.call = _closed_call
        if self._finalizer is not None:
            self._finalizer()
