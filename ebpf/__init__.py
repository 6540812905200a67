"""Load, run and inspect eBPF programs and maps from plain Python.

``ebpf`` talks to the kernel through ``bpf(2)`` directly (ctypes; no libbpf, bcc or LLVM at run
time). Build maps from :class:`MapSpec`, programs from :class:`ProgramSpec` (assembled with
:mod:`ebpf.asm`), run programs with :meth:`Program.test_run`, and read what they leave behind.
"""

# The public names are re-exported explicitly for type checkers, and imported on first use at
# run time (PEP 562), so that `import ebpf.btf` or `import ebpf.asm` does not pay for loading
# the ELF reader and the collection loader.
from __future__ import annotations

from .internal.lazy import lazy_attributes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import asm as asm, btf as btf
    from .collection import (
        Collection as Collection,
        CollectionOptions as CollectionOptions,
        CollectionSpec as CollectionSpec,
        Name as Name,
        Objects as Objects,
        field as field,
        load_collection as load_collection,
    )
    from .elf_reader import (
        load_collection_spec as load_collection_spec,
    )
    from .errors import (
        BTFError as BTFError,
        ClosedError as ClosedError,
        COREError as COREError,
        EbpfError as EbpfError,
        ELFError as ELFError,
        KeyExistsError as KeyExistsError,
        KeyNotFoundError as KeyNotFoundError,
        NotSupportedError as NotSupportedError,
        SyscallError as SyscallError,
        UnsupportedFeatureError as UnsupportedFeatureError,
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
    from .map import (
        Map as Map,
        MapSpec as MapSpec,
        PinType as PinType,
        RawView as RawView,
    )
    from .marshal import (
        Marshaler as Marshaler,
        MarshalError as MarshalError,
    )
    from .program import (
        Program as Program,
        ProgramOptions as ProgramOptions,
        ProgramSpec as ProgramSpec,
        RunFlags as RunFlags,
        RunResult as RunResult,
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

_LAZY: dict[str, str] = {
    "AttachType": ".types",
    "btf_ids": ".info",
    "BTFError": ".errors",
    "ClosedError": ".errors",
    "Collection": ".collection",
    "CollectionOptions": ".collection",
    "CollectionSpec": "._specs",
    "COREError": ".errors",
    "EbpfError": ".errors",
    "ELFError": ".errors",
    "enable_stats": ".info",
    "EnabledStats": ".info",
    "field": ".collection",
    "KeyExistsError": ".errors",
    "KeyNotFoundError": ".errors",
    "link_ids": ".info",
    "LinkType": ".types",
    "load_collection": ".collection",
    "load_collection_spec": ".elf_reader",
    "Map": ".map",
    "map_ids": ".info",
    "MapFlags": ".types",
    "MapInfo": ".info",
    "MapSpec": "._specs",
    "MapType": ".types",
    "Marshaler": ".marshal",
    "MarshalError": ".errors",
    "Name": ".collection",
    "NotSupportedError": ".errors",
    "Objects": ".collection",
    "PinType": "._specs",
    "Program": ".program",
    "program_ids": ".info",
    "ProgramFlags": ".types",
    "ProgramInfo": ".info",
    "ProgramOptions": ".program",
    "ProgramSpec": "._specs",
    "ProgramType": ".types",
    "RawView": ".map",
    "RunFlags": ".program",
    "RunResult": ".program",
    "StatsType": ".types",
    "SyscallError": ".errors",
    "UnsupportedFeatureError": ".errors",
    "UpdateFlags": ".types",
    "Variable": ".variables",
    "VariableSpec": ".variables",
    "VerifierError": ".errors",
    "asm": ".asm",
    "btf": ".btf",
}

__all__ = [
    "asm", "AttachType", "btf", "btf_ids", "BTFError", "ClosedError", "Collection",
    "CollectionOptions", "CollectionSpec", "COREError", "EbpfError", "ELFError", "enable_stats",
    "EnabledStats", "field", "KeyExistsError", "KeyNotFoundError", "link_ids", "LinkType",
    "load_collection", "load_collection_spec", "Map", "map_ids", "MapFlags", "MapInfo", "MapSpec",
    "MapType", "Marshaler", "MarshalError", "Name", "NotSupportedError", "Objects", "PinType",
    "Program", "program_ids", "ProgramFlags", "ProgramInfo", "ProgramOptions", "ProgramSpec",
    "ProgramType", "RawView", "RunFlags", "RunResult", "StatsType", "SyscallError",
    "UnsupportedFeatureError", "UpdateFlags", "Variable", "VariableSpec", "VerifierError",
]


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
