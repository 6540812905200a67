"""The plain-data specs: :class:`MapSpec`, :class:`ProgramSpec` and :class:`CollectionSpec`.

They are defined here, apart from the kernel objects (:mod:`ebpf.map`, :mod:`ebpf.program`,
:mod:`ebpf.collection`, which re-export them), so that reading an object file
(:func:`ebpf.load_collection_spec`) does not import the syscall layer and ``ctypes``: a spec
is data, and nothing about it touches the kernel.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from ._enum import IntEnum, enum_class
from .errors import EbpfError
from .internal.record import dataclass, field as _field, replace
from .types import AttachType, MapType, ProgramFlags, ProgramType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final, Literal, TypeVar

    from .asm import Instructions
    from .btf.types import Type
    from .collection import CollectionOptions
    from .variables import VariableSpec

    T = TypeVar("T")

__all__ = ["CollectionSpec", "MapSpec", "PinType", "ProgramSpec"]

_NO_FLAGS: Final = ProgramFlags(0)


@enum_class
class PinType(IntEnum):
    """How a map from an object file is pinned (``LIBBPF_PIN_*``)."""

    NONE = 0
    BY_NAME = 1


@dataclass
class MapSpec:
    """Everything needed to create a map. Plain data: copy and edit freely before loading.

    Attributes:
        name: the map's name; the kernel keeps at most 15 characters of ``[A-Za-z0-9_.]``.
        type: the kind of map.
        key_size, value_size, max_entries: as the kernel defines them for ``type``.
        flags: ``BPF_F_*`` creation flags (:class:`~ebpf.MapFlags`).
        inner_map: for maps of maps, the spec every inner map must match.
        pinning: :attr:`PinType.BY_NAME` pins the map under the collection's pin path.
        numa_node: NUMA node to allocate on (needs ``MapFlags.NUMA_NODE``).
        map_extra: type-specific (bloom filter hash count, arena start address).
        contents: ``(key, value)`` pairs written right after creation.
        freeze: freeze the map after ``contents`` are written.
        key_type, value_type: BTF types of key and value, when known. Maps whose values
            hold a ``bpf_spin_lock`` or timer, and the local-storage types, need them.
    """

    name: str = ""
    type: MapType = MapType.UNSPEC
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    flags: int = 0
    inner_map: MapSpec | None = None
    pinning: PinType = PinType.NONE
    numa_node: int = 0
    map_extra: int = 0
    contents: list[tuple[Any, Any]] = _field(default_factory=list)
    freeze: bool = False
    key_type: Type | None = None
    value_type: Type | None = None

    def copy(self) -> MapSpec:
        """A deep copy that shares nothing mutable with this spec."""
        import copy

        return copy.deepcopy(self)


@dataclass
class ProgramSpec:
    """Everything needed to load a program. Plain data: copy and edit freely before loading.

    Attributes:
        name: the program's name. The kernel keeps at most 15 characters of
            ``[A-Za-z0-9_.]``; :attr:`Program.name` keeps the whole name.
        type: the program type, which decides the context, helpers and attach points.
        instructions: the code; every reference in it (map, jump label, function) must be
            resolved before loading.
        license: the license string (``"GPL"`` unlocks GPL-only helpers).
        attach_type: the expected attach type, which some program types require.
        attach_to: the attach target by name (function, tracepoint, ...), used when attaching,
            and for tracing/LSM/extension programs to find :attr:`attach_btf_id`.
        attach_btf_id: the BTF type id of the attach target in kernel BTF, for program types
            that need it at load time (tracing, LSM, extension, struct_ops).
        flags: ``BPF_F_*`` load flags.
        kernel_version: the ``LINUX_VERSION_CODE`` to load with; 0 means "the running kernel"
            for kprobe programs (old kernels check it), and 0 for everything else.
        section_name: the ELF section the program came from, if any.
        byte_order: the byte order of :attr:`instructions`; must match the host to load.
        btf: BTF information from the object file (opaque here; used by the collection loader).
    """

    name: str
    type: ProgramType
    instructions: Instructions
    license: str = ""
    attach_type: AttachType | None = None
    attach_to: str = ""
    attach_btf_id: int = 0
    flags: ProgramFlags = _NO_FLAGS
    kernel_version: int = 0
    section_name: str = ""
    byte_order: Literal["little", "big"] = sys.byteorder
    btf: object | None = None

    def copy(self) -> ProgramSpec:
        """A copy whose instructions can be changed without affecting this spec.

        :attr:`btf` is shared, not copied: it is treated as immutable.
        """
        import copy

        return replace(self, instructions=copy.deepcopy(self.instructions))


# --- collections ----------------------------------------------------------------------------------

def _copy_map(m: MapSpec) -> MapSpec:
    contents = [(k, bytes(v) if isinstance(v, bytearray) else v) for k, v in m.contents]
    return replace(m, contents=contents,
                   inner_map=_copy_map(m.inner_map) if m.inner_map else None)


def _map_key(m: MapSpec | None) -> object:
    if m is None:
        return None
    return (m.name, int(m.type), m.key_size, m.value_size, m.max_entries, m.flags,
            _map_key(m.inner_map), int(m.pinning), m.numa_node, m.map_extra,
            [(k, bytes(v) if isinstance(v, bytearray) else v) for k, v in m.contents],
            m.freeze, str(m.key_type), str(m.value_type))


class CollectionSpec:
    """The maps, programs, types and variables of an object file, before loading.

    Plain data: edit freely, :meth:`copy` to keep the original.

    Attributes:
        maps: map specs by name; global-data maps are named after their section
            (``.data``, ``.rodata``, ``.bss``, ``.data.custom``, ``.kconfig``).
        programs: program specs by name (the function's symbol name).
        types: the object's BTF (:class:`ebpf.btf.Spec`), or None.
        byte_order: ``"little"`` or ``"big"``: the object's byte order.
        variables: every global variable by name.
    """

    def __init__(self, *, maps: dict[str, MapSpec] | None = None,
                 programs: dict[str, ProgramSpec] | None = None, types: Any = None,
                 byte_order: Literal["little", "big"] = "little",
                 variables: dict[str, VariableSpec] | None = None) -> None:
        self.maps: dict[str, MapSpec] = maps if maps is not None else {}
        self.programs: dict[str, ProgramSpec] = programs if programs is not None else {}
        self.types = types
        self.byte_order: Literal["little", "big"] = byte_order
        self.variables: dict[str, VariableSpec] = {
            n: v._bind(self.maps) for n, v in (variables or {}).items()}
        # Extern symbols declared __weak: missing in the kernel means zero, not an error.
        self._weak_externs: frozenset[str] = frozenset()

    def copy(self) -> CollectionSpec:
        """A copy sharing nothing mutable with this spec (BTF types are shared: immutable)."""
        new = CollectionSpec(
            maps={n: _copy_map(m) for n, m in self.maps.items()},
            programs={n: p.copy() for n, p in self.programs.items()},
            types=self.types, byte_order=self.byte_order,
            variables={n: v.copy() for n, v in self.variables.items()})
        new._weak_externs = self._weak_externs
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CollectionSpec):
            return NotImplemented
        return (self.byte_order == other.byte_order
                and {n: _map_key(m) for n, m in self.maps.items()}
                == {n: _map_key(m) for n, m in other.maps.items()}
                and self.programs == other.programs
                and self.variables == other.variables)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<CollectionSpec {len(self.programs)} programs, {len(self.maps)} maps, "
                f"{len(self.variables)} variables>")

    def rewrite_constants(self, constants: Mapping[str, object]) -> None:
        """Set the initial values of ``.rodata`` variables (constants the verifier sees).

        Raises:
            EbpfError: a name is not a constant of this spec (none is changed then).
            MarshalError: a value has the wrong size or type.
        """
        missing = [n for n in constants
                   if n not in self.variables or not self.variables[n].constant]
        if missing:
            raise EbpfError(f"rewrite constants: not constants of this spec: "
                            f"{', '.join(sorted(missing))}")
        for name, value in constants.items():
            self.variables[name].set(value)

    def assign(self, obj: T) -> T:
        """Assign map and program specs (:class:`~ebpf.MapSpec`, :class:`~ebpf.ProgramSpec`,
        :class:`~ebpf.variables.VariableSpec`) to the tagged fields of ``obj``.

        Raises:
            EbpfError: a name is missing, assigned twice or of the wrong kind.
        """
        from .collection import _SPEC_KINDS, _assign

        _assign(obj, _SPEC_KINDS, "the spec",
                {"map": self.maps, "program": self.programs, "variable": self.variables})
        return obj

    def load_and_assign(self, obj: T, options: CollectionOptions | None = None) -> T:
        """Load what the tagged fields of ``obj`` name (and what they need), assign it.

        Programs bring the maps they use; program arrays and maps of maps bring the programs
        and maps they are initialised with. ``obj`` then owns everything assigned; anything
        loaded only as a dependency is closed before returning (the kernel keeps it alive
        through its users). Returns ``obj``.

        Raises:
            EbpfError: a name is missing, assigned twice or of the wrong kind; or loading
                failed (nothing stays open then).
        """
        from .collection import Collection, CollectionOptions, _Loader, _wanted

        wanted = _wanted(obj)
        loader = _Loader(self, options or CollectionOptions())
        try:
            for kind, name in wanted:
                if kind == "map":
                    if name not in self.maps:
                        raise EbpfError(f"load and assign: the spec has no map {name!r}")
                    loader.map(name)
                elif kind == "program":
                    if name not in self.programs:
                        raise EbpfError(f"load and assign: the spec has no program {name!r}")
                    loader.program(name)
                elif name not in self.variables:
                    raise EbpfError(f"load and assign: the spec has no variable {name!r}")
                else:
                    loader.map(self.variables[name].map_name)
            loader.finish()
            coll = Collection._from_loader(loader)
        except BaseException:
            loader.close()
            raise
        with coll:
            coll.assign(obj)
        return obj

