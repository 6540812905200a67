"""The plain-data specs: :class:`MapSpec`, :class:`ProgramSpec` and :class:`CollectionSpec`.

A spec is data: nothing about it touches the kernel, and this module sits below everything
that does (the kernel objects in :mod:`ebpf.map` and :mod:`ebpf.program`, the loader in
:mod:`ebpf.loader`), so reading an object file (:func:`ebpf.load_collection_spec`) imports
neither the syscall layer nor ``ctypes``. The two methods of :class:`CollectionSpec` that load
(:meth:`~CollectionSpec.load_and_assign`) or assign (:meth:`~CollectionSpec.assign`) call the
public functions of :mod:`ebpf` that do so; those import the loader when first used.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import ebpf

from .errors import EbpfError
from .types import AttachType, MapType, ProgramFlags, ProgramType
from .variables import VariableSpec

if TYPE_CHECKING:
    from .asm import Instructions
    from .btf.spec import Spec
    from .btf.types import Type
    from .linker import ProgramBTF

T = TypeVar("T")

__all__ = ["CollectionSpec", "MapSpec", "PinType", "ProgramSpec", "StructOpsValue"]

_NO_FLAGS: Final = ProgramFlags(0)


class PinType(IntEnum):
    """How a map from an object file is pinned (``LIBBPF_PIN_*``)."""

    NONE = 0
    BY_NAME = 1


@dataclass(frozen=True)
class StructOpsValue:
    """The value of a struct_ops map as an object file defines it (``SEC(".struct_ops")``).

    The loader lays it out as the running kernel's struct (``bpf_struct_ops_<name>``), copying
    the data members by name and writing the descriptor of each program into its member.

    Attributes:
        data: the struct's bytes in the object's layout (the map spec's ``value_type``), with
            the function pointer members zero.
        programs: the program (by name) each function pointer member (by name) points at.
    """

    data: bytes
    programs: dict[str, str]


@dataclass(repr=False)
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
        contents: ``(key, value)`` pairs written right after creation. A struct_ops map has
            one, whose value is a :class:`StructOpsValue`.
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
    contents: list[tuple[Any, Any]] = field(default_factory=list)
    freeze: bool = False
    key_type: Type | None = None
    value_type: Type | None = None

    def copy(self) -> MapSpec:
        """A deep copy that shares nothing mutable with this spec."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        t = self.type.name if isinstance(self.type, MapType) else str(self.type)
        extra = f", {len(self.contents)} entries" if self.contents else ""
        inner = f", inner {self.inner_map!r}" if self.inner_map is not None else ""
        return (f"<MapSpec {self.name!r} {t}, key {self.key_size} B, value {self.value_size} B,"
                f" max {self.max_entries}{extra}{inner}>")


@dataclass(repr=False)
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
        btf: the function, line and CO-RE information of the object file for this program's
            functions (set by the ELF reader; the loader hands it to the kernel).
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
    btf: ProgramBTF | None = None

    def copy(self) -> ProgramSpec:
        """A copy whose instructions can be changed without affecting this spec.

        :attr:`btf` is shared, not copied: it is treated as immutable.
        """
        return replace(self, instructions=copy.deepcopy(self.instructions))

    def __repr__(self) -> str:
        t = self.type.name if isinstance(self.type, ProgramType) else str(self.type)
        n = len(self.instructions)
        section = f", section {self.section_name!r}" if self.section_name else ""
        return (f"<ProgramSpec {self.name!r} {t}, {n} instruction{'s' if n != 1 else ''}"
                f"{section}>")


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


@dataclass(kw_only=True, eq=False, repr=False)
class CollectionSpec:
    """The maps, programs, types and variables of an object file, before loading.

    Plain data: edit freely, :meth:`copy` to keep the original.

    Attributes:
        maps: map specs by name; global-data maps are named after their section
            (``.data``, ``.rodata``, ``.bss``, ``.data.custom``, ``.kconfig``).
        programs: program specs by name (the function's symbol name).
        types: the object's BTF, or None.
        byte_order: ``"little"`` or ``"big"``: the object's byte order.
        variables: every global variable by name; its value lives in the contents of the
            map :attr:`~ebpf.VariableSpec.map_name` of :attr:`maps`.
        weak_externs: the extern symbols declared ``__weak``: when the kernel lacks them they
            read as zero instead of failing the load.
    """

    maps: dict[str, MapSpec] = field(default_factory=dict)
    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    types: Spec | None = None
    byte_order: Literal["little", "big"] = "little"
    variables: dict[str, VariableSpec] = field(default_factory=dict)
    weak_externs: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for v in self.variables.values():
            v._bind(self.maps)

    def copy(self) -> CollectionSpec:
        """A copy sharing nothing mutable with this spec (BTF types are shared: immutable)."""
        return CollectionSpec(
            maps={n: _copy_map(m) for n, m in self.maps.items()},
            programs={n: p.copy() for n, p in self.programs.items()},
            types=self.types, byte_order=self.byte_order,
            variables={n: v.copy() for n, v in self.variables.items()},
            weak_externs=self.weak_externs)

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
        :class:`~ebpf.VariableSpec`) to the tagged fields of ``obj``; return ``obj``.

        Same as :func:`ebpf.assign(self, obj) <ebpf.assign>`.

        Raises:
            EbpfError: a name is missing, assigned twice or of the wrong kind.
        """
        return ebpf.assign(self, obj)

    def load_and_assign(self, obj: T, options: ebpf.CollectionOptions | None = None) -> T:
        """Load what the tagged fields of ``obj`` name (and what they need), assign it.

        Same as :func:`ebpf.load_and_assign(self, obj, options) <ebpf.load_and_assign>`: see
        there.
        """
        return ebpf.load_and_assign(self, obj, options)
