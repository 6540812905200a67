"""The syscall layer: ``bpf(2)``, its attr layouts, and ``FD``.

Only this package calls ``bpf(2)`` or knows a ``union bpf_attr`` layout.
"""

from . import commands as commands
from ._types import (
    BPF_OBJ_NAME_LEN as BPF_OBJ_NAME_LEN,
    BtfInfo as BtfInfo,
    BtfLoadAttr as BtfLoadAttr,
    Cmd as Cmd,
    EnableStatsAttr as EnableStatsAttr,
    GetIdAttr as GetIdAttr,
    IterCreateAttr as IterCreateAttr,
    LinkCreateAttr as LinkCreateAttr,
    LinkDetachAttr as LinkDetachAttr,
    LinkInfo as LinkInfo,
    LinkUpdateAttr as LinkUpdateAttr,
    MapBatchAttr as MapBatchAttr,
    MapCreateAttr as MapCreateAttr,
    MapElemAttr as MapElemAttr,
    MapFreezeAttr as MapFreezeAttr,
    MapInfo as MapInfo,
    ObjGetInfoAttr as ObjGetInfoAttr,
    ObjPinAttr as ObjPinAttr,
    ProgAttachAttr as ProgAttachAttr,
    ProgBindMapAttr as ProgBindMapAttr,
    ProgInfo as ProgInfo,
    ProgLoadAttr as ProgLoadAttr,
    ProgQueryAttr as ProgQueryAttr,
    ProgRunAttr as ProgRunAttr,
    RawTracepointOpenAttr as RawTracepointOpenAttr,
    TaskFdQueryAttr as TaskFdQueryAttr,
)
from .fd import FD as FD
from .syscall import (
    FastCall as FastCall,
    bpf as bpf,
    bpf_raw as bpf_raw,
    trampoline_available as trampoline_available,
)
