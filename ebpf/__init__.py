"""Load, run and inspect eBPF programs and maps from plain Python.

``ebpf`` talks to the kernel through ``bpf(2)`` directly (ctypes; no libbpf, bcc or LLVM at run
time). Read an object file with :func:`load_collection_spec`, load it as a :class:`Collection`
or into your own dataclass with :func:`load_and_assign`; build maps from :class:`MapSpec` and
programs from :class:`ProgramSpec` (assembled with :mod:`ebpf.asm`), run programs with
:meth:`Program.test_run`, and read what they leave behind.
"""

# The public names are imported on first use (PEP 562), so that ``import ebpf`` or
# ``import ebpf.btf`` costs nothing and reading an object file does not load the syscall layer.
# ``_PUBLIC`` is the one table of them: ``__all__``, ``__getattr__`` and ``__dir__`` are made
# from it, and tests/unit/test_exports.py checks that the imports type checkers read below
# name exactly the same objects.
from __future__ import annotations

from typing import TYPE_CHECKING

from .internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from . import asm as asm, btf as btf, link as link, perf as perf, ringbuf as ringbuf
    from .assignment import (
        Name as Name,
        Objects as Objects,
        assign as assign,
        field as field,
    )
    from .collection import (
        Collection as Collection,
        load_and_assign as load_and_assign,
        load_collection as load_collection,
    )
    from .elf_reader import (
        load_collection_spec as load_collection_spec,
    )
    from .errors import (
        AmbiguousSymbolError as AmbiguousSymbolError,
        BTFError as BTFError,
        BusyError as BusyError,
        ClosedError as ClosedError,
        COREError as COREError,
        EbpfError as EbpfError,
        ELFError as ELFError,
        IndirectFunctionError as IndirectFunctionError,
        KeyExistsError as KeyExistsError,
        KeyNotFoundError as KeyNotFoundError,
        LdCacheError as LdCacheError,
        MarshalError as MarshalError,
        NetlinkError as NetlinkError,
        NotSupportedError as NotSupportedError,
        SymbolNotFoundError as SymbolNotFoundError,
        SyscallError as SyscallError,
        TargetNotFoundError as TargetNotFoundError,
        UnsupportedFeatureError as UnsupportedFeatureError,
        USDTArgumentError as USDTArgumentError,
        USDTNotFoundError as USDTNotFoundError,
        VerifierError as VerifierError,
    )
    from .info import (
        EnabledStats as EnabledStats,
        MapInfo as MapInfo,
        ProgramInfo as ProgramInfo,
        btf_ids as btf_ids,
        enable_stats as enable_stats,
        link_ids as link_ids,
        map_ids as map_ids,
        program_ids as program_ids,
    )
    from .internal.kernel import (
        online_cpus as online_cpus,
        possible_cpus as possible_cpus,
    )
    from .internal.kernel_object import (
        KernelObject as KernelObject,
    )
    from .loader import (
        CollectionOptions as CollectionOptions,
    )
    from .map import (
        Map as Map,
        RawView as RawView,
    )
    from .marshal import (
        Marshaler as Marshaler,
    )
    from .program import (
        Program as Program,
        ProgramOptions as ProgramOptions,
        RunFlags as RunFlags,
        RunResult as RunResult,
    )
    from .specs import (
        CollectionSpec as CollectionSpec,
        MapSpec as MapSpec,
        PinType as PinType,
        ProgramSpec as ProgramSpec,
    )
    from .types import (
        AttachType as AttachType,
        LinkType as LinkType,
        MapFlags as MapFlags,
        MapType as MapType,
        ProgramFlags as ProgramFlags,
        ProgramType as ProgramType,
        StatsType as StatsType,
        UpdateFlags as UpdateFlags,
    )
    from .variables import (
        Variable as Variable,
        VariableSpec as VariableSpec,
    )

__version__ = "0.1.0"

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "asm": ".asm",
    "assign": ".assignment",
    "field": ".assignment",
    "Name": ".assignment",
    "Objects": ".assignment",
    "btf": ".btf",
    "link": ".link",
    "perf": ".perf",
    "ringbuf": ".ringbuf",
    "Collection": ".collection",
    "load_and_assign": ".collection",
    "load_collection": ".collection",
    "load_collection_spec": ".elf_reader",
    "BTFError": ".errors",
    "LdCacheError": ".errors",
    "USDTNotFoundError": ".errors",
    "USDTArgumentError": ".errors",
    "TargetNotFoundError": ".errors",
    "SymbolNotFoundError": ".errors",
    "NetlinkError": ".errors",
    "IndirectFunctionError": ".errors",
    "AmbiguousSymbolError": ".errors",
    "BusyError": ".errors",
    "ClosedError": ".errors",
    "COREError": ".errors",
    "EbpfError": ".errors",
    "ELFError": ".errors",
    "KeyExistsError": ".errors",
    "KeyNotFoundError": ".errors",
    "MarshalError": ".errors",
    "NotSupportedError": ".errors",
    "SyscallError": ".errors",
    "UnsupportedFeatureError": ".errors",
    "VerifierError": ".errors",
    "btf_ids": ".info",
    "enable_stats": ".info",
    "EnabledStats": ".info",
    "link_ids": ".info",
    "map_ids": ".info",
    "MapInfo": ".info",
    "program_ids": ".info",
    "ProgramInfo": ".info",
    "online_cpus": ".internal.kernel",
    "possible_cpus": ".internal.kernel",
    "KernelObject": ".internal.kernel_object",
    "CollectionOptions": ".loader",
    "Map": ".map",
    "RawView": ".map",
    "Marshaler": ".marshal",
    "Program": ".program",
    "ProgramOptions": ".program",
    "RunFlags": ".program",
    "RunResult": ".program",
    "CollectionSpec": ".specs",
    "MapSpec": ".specs",
    "PinType": ".specs",
    "ProgramSpec": ".specs",
    "AttachType": ".types",
    "LinkType": ".types",
    "MapFlags": ".types",
    "MapType": ".types",
    "ProgramFlags": ".types",
    "ProgramType": ".types",
    "StatsType": ".types",
    "UpdateFlags": ".types",
    "Variable": ".variables",
    "VariableSpec": ".variables",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
