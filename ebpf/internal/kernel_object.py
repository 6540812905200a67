"""``KernelObject``: the one base of every Python object that owns a kernel object's descriptor.

Maps, programs, links, BTF objects, statistics handles and event readers all derive from it, so
they share one set of ownership rules, written down once in the class docstring below.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from ..errors import ClosedError, EbpfError, NotSupportedError
from .pin import open_pinned, pin_fd, remove_pin
from .sys import FD

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["KernelObject"]


class KernelObject:
    """Owns one kernel object through one file descriptor.

    Every class of the library that holds a descriptor derives from this one, and every such
    descriptor follows the same rules:

    **One owner.** An object owns its descriptor from the moment it is made until
    :meth:`close`. Nothing else closes it; :attr:`fd` only *lends* the number for the duration
    of a call (into an instruction, an ``ioctl``, another ``bpf(2)`` attr) and must never be
    closed or kept by the borrower.

    **close() is final and idempotent.** :meth:`close` (or leaving a ``with`` block) releases
    the descriptor and throws the number away, so a number the kernel later reuses is never
    touched through this object. Calling it again does nothing; calling it from another thread
    is safe. Afterwards every operation raises :class:`~ebpf.ClosedError`; :attr:`closed`,
    ``repr()`` and :meth:`close` still work. Closing the descriptor does not necessarily destroy
    the kernel object: pins, attachments and programs that use a map keep it alive.

    **Dropping an object frees it.** Objects hold no reference cycles, so the last reference
    going away closes the descriptor at once (with a :class:`ResourceWarning`, because
    deterministic :meth:`close` is the intended way).

    **from_fd() always takes the descriptor.** ``Cls.from_fd(fd)`` makes the new object the
    owner of ``fd``, whatever happens: if ``fd`` turns out not to be a kernel object of the
    right kind, it is closed before the error propagates, as :func:`open` does with a
    descriptor it was given. The caller must not use ``fd`` after the call; to keep a
    descriptor of your own, pass ``os.dup(fd)``.

    **clone() duplicates.** :meth:`clone` returns a new, independent owner of a duplicate
    descriptor (``dup``) of the same kernel object; closing one leaves the other open.

    **Pins are names, not owners.** :meth:`pin` gives the kernel object a name in a bpffs that
    keeps it alive beyond this process; :meth:`load_pinned` opens a pinned object (the new
    object owns a new descriptor); :meth:`unpin` removes the name this object pinned or was
    opened from. Objects the kernel cannot pin raise :class:`~ebpf.NotSupportedError`.

    Subclasses describe themselves through a few hooks: :attr:`kind` (the noun in messages),
    ``_pinnable``, ``_adopt`` (wrap an owned descriptor,
    checking what it is), ``_open_id`` (``BPF_*_GET_FD_BY_ID``), ``_release`` (free what the
    object holds besides the descriptor) and ``_describe`` (the middle of ``repr()``).
    """

    __slots__ = ("__weakref__", "_fd", "_pinned_path")

    _fd: FD
    _pinned_path: str | None

    #: The noun that names objects of this class in messages ("map", "program", "link" ...).
    kind: ClassVar[str] = "object"
    #: Whether the kernel can pin objects of this class in a bpffs (maps, programs, links).
    _pinnable: ClassVar[bool] = False

    def _own(self, fd: FD) -> None:
        """Make this object the owner of ``fd``. Subclass constructors call it first."""
        self._fd = fd
        self._pinned_path = None

    # --- the hooks ---------------------------------------------------------------------------

    @classmethod
    def _adopt(cls, fd: FD) -> Self:
        """A new object owning ``fd``, after checking that ``fd`` is one of this class's kernel
        objects (raise if not; the caller closes ``fd`` then)."""
        raise NotSupportedError(f"a {cls.kind} cannot be made from a file descriptor")

    @classmethod
    def _open_id(cls, object_id: int) -> FD:
        """A new descriptor of the kernel object with id ``object_id``."""
        raise NotSupportedError(f"a {cls.kind} cannot be opened by id")

    def _release(self) -> None:
        """Free what this object holds besides its descriptor (called once, by close)."""

    def _describe(self) -> str:
        """What ``repr()`` shows between the class name and the descriptor state."""
        return ""

    def info(self) -> object:
        """What the kernel says about this object (subclasses return their own info type).

        Raises:
            NotSupportedError: the kernel keeps no information about this kind of object.
            ClosedError: the object was closed.
        """
        raise NotSupportedError(f"the kernel keeps no information about a {self.kind}")

    # --- making ------------------------------------------------------------------------------

    @classmethod
    def _take(cls, fd: FD) -> Self:
        """``_adopt(fd)``, closing ``fd`` if that fails."""
        try:
            return cls._adopt(fd)
        except BaseException:
            fd.close()
            raise

    @classmethod
    def from_fd(cls, fd: int) -> Self:
        """Take ownership of descriptor ``fd`` (see the class docstring: it is the new
        object's whatever happens, and closed if it is not a kernel object of this kind).

        Raises:
            EbpfError: ``fd`` is not an open descriptor of this kind of kernel object.
        """
        if not isinstance(fd, int) or isinstance(fd, bool) or fd < 0:
            raise EbpfError(f"{cls.kind} from_fd: {fd!r} is not a file descriptor")
        return cls._take(FD(fd, cls.kind))

    @classmethod
    def from_id(cls, object_id: int) -> Self:
        """Open the kernel object with id ``object_id`` (needs ``CAP_SYS_ADMIN``).

        Raises:
            SyscallError: ``ENOENT`` if there is no such object, ``EPERM`` without privilege.
            NotSupportedError: objects of this kind have no ids.
        """
        if not isinstance(object_id, int) or not 0 <= object_id <= 0xFFFF_FFFF:
            raise EbpfError(f"{cls.kind} id must be an int from 0 to 2**32-1, "
                            f"not {object_id!r}")
        return cls._take(cls._open_id(object_id))

    @classmethod
    def load_pinned(cls, path: str | os.PathLike[str]) -> Self:
        """Open the object pinned at ``path`` in a bpffs; :meth:`unpin` removes that pin.

        Raises:
            SyscallError: ``ENOENT`` if nothing is pinned there.
            EbpfError: what is pinned there is not a kernel object of this kind.
        """
        return cls._load_pinned(path, 0)

    @classmethod
    def _load_pinned(cls, path: str | os.PathLike[str], file_flags: int) -> Self:
        fd, shown = open_pinned(path, cls.kind, file_flags)
        obj = cls._take(fd)
        obj._pinned_path = shown
        return obj

    def clone(self) -> Self:
        """A new, independent owner of a duplicate descriptor of the same kernel object.

        Raises:
            ClosedError: this object was closed.
        """
        return self._cloned(self._checked_fd("clone").dup())

    def _cloned(self, fd: FD) -> Self:
        """The object :meth:`clone` returns for ``fd`` (subclasses copy what they know)."""
        return type(self)._take(fd)

    # --- ownership ---------------------------------------------------------------------------

    @property
    def fd(self) -> int:
        """The descriptor number, lent for the duration of a call (never close or keep it).

        Raises:
            ClosedError: the object was closed.
        """
        return self._checked_fd("use").raw

    def _checked_fd(self, action: str) -> FD:
        fd = self._fd
        if fd.closed:
            raise ClosedError(f"cannot {action} {self._label()}: it is closed")
        return fd

    def _label(self) -> str:
        """The object as messages name it, e.g. ``map 'counts'``."""
        name = getattr(self, "name", "")
        return f"{self.kind} {name!r}" if isinstance(name, str) and name else self.kind

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        fd = getattr(self, "_fd", None)
        return fd is None or fd.closed

    def close(self) -> None:
        """Release the descriptor (see the class docstring). Calling it again does nothing."""
        fd = getattr(self, "_fd", None)  # None: construction failed before _own()
        if fd is None or fd.closed:
            return
        try:
            self._release()
        finally:
            fd.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        what = self._describe()
        state = "closed" if self.closed else f"fd={self._fd.raw}"
        return f"<{type(self).__name__} {what} {state}>" if what else (
            f"<{type(self).__name__} {state}>")

    # --- pinning -----------------------------------------------------------------------------

    @property
    def pinned_path(self) -> str | None:
        """Where this object was pinned by :meth:`pin` or opened from, if anywhere."""
        return self._pinned_path

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the object at ``path`` in a bpffs, so it outlives this process.

        Raises:
            SyscallError: ``EEXIST`` if something is pinned there already; ``EPERM`` if
                ``path`` is not in a bpffs or its name contains a ``.``; ``ENOENT`` if the
                directory does not exist.
            NotSupportedError: the kernel cannot pin this kind of object.
            ClosedError: the object was closed.
        """
        if not self._pinnable:
            raise NotSupportedError(f"{self._label()} cannot be pinned: the kernel pins only "
                                    "maps, programs and links")
        self._pinned_path = pin_fd(self._checked_fd("pin").raw, path, self._label())

    def unpin(self) -> None:
        """Remove the pin made by :meth:`pin` or opened by :meth:`load_pinned`, if any. A pin
        that is already gone is not an error."""
        remove_pin(self._pinned_path)
        self._pinned_path = None
