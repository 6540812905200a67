"""Collections: every map and program of an object file, loaded and owned together.

A :class:`Collection` owns the maps and programs the loader (:mod:`ebpf.loader`) made from a
:class:`~ebpf.CollectionSpec`, and the global variables that read and write them;
:func:`load_and_assign` loads only what the fields of a dataclass ask for and hands it over
(:mod:`ebpf.assignment`).
"""

from __future__ import annotations

import contextlib
import mmap
import os
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, TypeVar, final

import ebpf

from .errors import EbpfError
from .loader import CollectionOptions, Loaded, load
from .map import Map
from .program import Program
from .specs import CollectionSpec, MapSpec
from .types import MapFlags
from .variables import Variable, VariableSpec

if TYPE_CHECKING:
    from typing_extensions import Self

    from .btf import Spec

__all__ = ["Collection", "load_and_assign", "load_collection"]

T = TypeVar("T")


@final
class Collection:
    """The maps and programs of a :class:`CollectionSpec`, loaded. Owns all of them.

    ``Collection(spec)`` loads every map and every program (programs in ``?``-prefixed
    sections are skipped: those load only through :meth:`CollectionSpec.load_and_assign`).
    Close with :meth:`close` or ``with``; :meth:`detach_map`, :meth:`detach_program` and
    :meth:`assign` hand objects over to the caller.

    Attributes:
        maps: the loaded maps by name.
        programs: the loaded programs by name.
        variables: the global variables, reading and writing the live maps.
        types: the object's BTF (the spec's), e.g. to decode ring buffer records by type
            name: ``ebpf.ringbuf.Reader(coll.maps["events"], decode="event",
            types=coll.types)``.
    """

    maps: dict[str, Map]
    programs: dict[str, Program]
    variables: dict[str, Variable]
    types: Spec | None

    def __init__(self, spec: CollectionSpec, options: CollectionOptions | None = None) -> None:
        """Load every map and program of ``spec``.

        Raises:
            VerifierError, SyscallError, EbpfError: loading an object failed; the message
                names it. Nothing stays open.
        """
        if not isinstance(spec, CollectionSpec):
            raise EbpfError(f"Collection() takes a CollectionSpec, not {type(spec).__name__}")
        self._take(load(spec, options))

    @classmethod
    def _from_loaded(cls, loaded: Loaded) -> Collection:
        c = cls.__new__(cls)
        c._take(loaded)
        return c

    def _take(self, loaded: Loaded) -> None:
        """Own the objects of ``loaded`` (closed if setting up fails)."""
        self.maps = loaded.maps
        self.programs = loaded.programs
        self.types = loaded.spec.types
        self._mmaps: dict[str, mmap.mmap] = {}
        self.variables = {}
        try:
            for name, var in loaded.spec.variables.items():
                if var.map_name in self.maps:
                    self.variables[name] = self._variable(var, loaded.spec.maps[var.map_name])
        except BaseException:
            self.close()
            raise

    def _variable(self, var: VariableSpec, spec: MapSpec) -> Variable:
        m = self.maps[var.map_name]
        frozen = spec.freeze
        if m.flags & MapFlags.MMAPABLE:
            mm = self._mmaps.get(var.map_name)
            if mm is None:
                size = (m.value_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
                prot = mmap.PROT_READ | (0 if frozen else mmap.PROT_WRITE)
                mm = mmap.mmap(m.fd, size, mmap.MAP_SHARED, prot)
                self._mmaps[var.map_name] = mm
            view = mm

            def read(off: int, size: int) -> bytes:
                return bytes(view[off:off + size])

            def write(off: int, data: bytes) -> None:
                view[off:off + len(data)] = data
        else:
            def read(off: int, size: int) -> bytes:
                value = m.raw[0]
                return bytes(value[off:off + size])

            def write(off: int, data: bytes) -> None:
                value = bytearray(m.raw[0])
                value[off:off + len(data)] = data
                m.update(0, bytes(value))
        return Variable(var, read, None if frozen else write)

    # ownership -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every map and program still held. Idempotent."""
        self.variables = {}
        for mm in getattr(self, "_mmaps", {}).values():
            with contextlib.suppress(BufferError):  # a view of it is still in use
                mm.close()
        self._mmaps = {}
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        self.programs = {}
        self.maps = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def detach_map(self, name: str) -> Map:
        """Remove the map ``name`` from the collection and hand it to the caller.

        Raises:
            KeyError: no such map.
        """
        m = self.maps.pop(name)
        mm = self._mmaps.pop(name, None)
        if mm is not None:
            with contextlib.suppress(BufferError):  # a view of it is still in use
                mm.close()
        self.variables = {n: v for n, v in self.variables.items() if v.map_name != name}
        return m

    def detach_program(self, name: str) -> Program:
        """Remove the program ``name`` from the collection and hand it to the caller.

        Raises:
            KeyError: no such program.
        """
        return self.programs.pop(name)

    def assign(self, obj: T) -> T:
        """Move the maps, programs and variables the tagged fields of ``obj`` name into it.

        ``obj`` owns what it receives; the collection keeps (and closes) the rest.

        Raises:
            EbpfError: a name is missing, assigned twice or of the wrong kind (nothing moves).
        """
        from .assignment import OBJECT_KINDS, assign_from  # assigning is rarer than loading

        taken = assign_from(obj, OBJECT_KINDS, "the collection",
                            {"map": self.maps, "program": self.programs,
                             "variable": self.variables})
        for kind, name in taken:
            if kind == "map":
                self.maps.pop(name, None)
            elif kind == "program":
                self.programs.pop(name, None)
        # Variables keep reading through the collection's mapping: keep the maps they use.
        return obj

    def attach_all(self, **arguments: Any) -> ebpf.link.Attachments:
        """Attach every program whose section says enough (``kprobe/...``, ``tp/...``,
        ``uprobe/...``, ``tp_btf/...``, ... and, given ``interface=``, ``cgroup=`` or
        ``map=``, the networking ones); see :func:`ebpf.link.attach_all`. The programs stay
        the collection's; closing the returned :class:`~ebpf.link.Attachments` (or leaving its
        ``with`` block) detaches them.

        Raises:
            SyscallError, NotSupportedError, EbpfError: attaching a program failed; the ones
                attached before it are detached again.
        """
        return ebpf.link.attach_all(self, **arguments)

    def __repr__(self) -> str:
        return f"<Collection {len(self.programs)} programs, {len(self.maps)} maps>"


def load_collection(source: str | os.PathLike[str] | bytes | IO[bytes],
                    options: CollectionOptions | None = None) -> Collection:
    """Read an object file (path, bytes or binary file) and load all of it.

    Raises:
        ELFError: the object is malformed.
        VerifierError, SyscallError, EbpfError: loading failed (nothing stays open).
    """
    from .elf_reader import load_collection_spec

    return Collection(load_collection_spec(source), options)


def load_and_assign(spec: CollectionSpec, obj: T, options: CollectionOptions | None = None
                    ) -> T:
    """Load what the tagged fields of ``obj`` name (and what they need), assign it; return
    ``obj`` (:meth:`CollectionSpec.load_and_assign` is the same).

    Programs bring the maps they use; program arrays and maps of maps bring the programs and
    maps they are initialised with; a variable brings its map. ``obj`` then owns everything
    assigned; anything loaded only as a dependency is closed before returning (the kernel
    keeps it alive through its users).

    Raises:
        EbpfError: a name is missing (the message lists the names there are), assigned twice
            or of the wrong kind; or loading failed (nothing stays open then).
    """
    if not isinstance(spec, CollectionSpec):
        raise EbpfError(f"load_and_assign() takes a CollectionSpec, not {type(spec).__name__}")
    from .assignment import wanted

    with Collection._from_loaded(load(spec, options, only=wanted(obj))) as coll:
        coll.assign(obj)
    return obj
