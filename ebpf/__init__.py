"""Load, run and inspect eBPF programs and maps from plain Python.

``ebpf`` talks to the kernel through ``bpf(2)`` directly (ctypes; no libbpf, bcc or LLVM at run
time). Build maps from :class:`MapSpec`, programs from :class:`ProgramSpec` (assembled with
:mod:`ebpf.asm`), run programs with :meth:`Program.test_run`, and read what they leave behind.
"""

from . import asm as asm
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
from .map import Map as Map, MapSpec as MapSpec, PinType as PinType
from .marshal import Marshaler as Marshaler, MarshalError as MarshalError
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

__version__ = "0.1.0"

__all__ = [
    "AttachType", "BTFError", "COREError", "ClosedError", "ELFError", "EbpfError",
    "EnabledStats", "KeyExistsError", "KeyNotFoundError", "LinkType", "Map", "MapFlags",
    "MapInfo", "MapSpec", "MapType", "MarshalError", "Marshaler", "NotSupportedError", "PinType",
    "Program", "ProgramFlags", "ProgramInfo", "ProgramOptions", "ProgramSpec", "ProgramType",
    "RunFlags", "RunResult", "StatsType", "SyscallError", "UnsupportedFeatureError",
    "UpdateFlags", "VerifierError", "asm", "btf_ids", "enable_stats", "link_ids", "map_ids",
    "program_ids",
]
