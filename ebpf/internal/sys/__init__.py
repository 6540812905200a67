"""The syscall layer: ``bpf(2)``, its attr layouts, and ``FD``.

Only this package calls ``bpf(2)`` or knows a ``union bpf_attr`` layout.

The layouts that loading objects needs come from :mod:`._types` at import. Those of attaching,
links, info and stats live in :mod:`._types_attach` and :mod:`._types_info` and are imported on
first use of one of their names (PEP 562), so ``from ebpf.internal.sys import LinkCreateAttr``
works as before but a process that only loads objects never builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes
from . import commands as commands
from ._types import (
    BPF_OBJ_NAME_LEN as BPF_OBJ_NAME_LEN,
    BtfInfo as BtfInfo,
    BtfLoadAttr as BtfLoadAttr,
    Cmd as Cmd,
    GetIdAttr as GetIdAttr,
    MapBatchAttr as MapBatchAttr,
    MapCreateAttr as MapCreateAttr,
    MapElemAttr as MapElemAttr,
    MapFreezeAttr as MapFreezeAttr,
    ObjGetInfoAttr as ObjGetInfoAttr,
    ObjPinAttr as ObjPinAttr,
    ProgBindMapAttr as ProgBindMapAttr,
    ProgLoadAttr as ProgLoadAttr,
    ProgRunAttr as ProgRunAttr,
    command_name as command_name,
)
from .fd import FD as FD
from .syscall import (
    FastCall as FastCall,
    bpf as bpf,
    bpf_raw as bpf_raw,
    trampoline_available as trampoline_available,
)

if TYPE_CHECKING:
    from ._types_attach import (
        IterCreateAttr as IterCreateAttr,
        IterLinkInfo as IterLinkInfo,
        LinkCreateAttr as LinkCreateAttr,
        LinkDetachAttr as LinkDetachAttr,
        LinkUpdateAttr as LinkUpdateAttr,
        ProgAttachAttr as ProgAttachAttr,
        ProgQueryAttr as ProgQueryAttr,
        RawTracepointOpenAttr as RawTracepointOpenAttr,
        TaskFdQueryAttr as TaskFdQueryAttr,
        TokenCreateAttr as TokenCreateAttr,
    )
    from ._types_info import (
        EnableStatsAttr as EnableStatsAttr,
        LinkInfo as LinkInfo,
        MapInfo as MapInfo,
        ProgInfo as ProgInfo,
    )

__all__ = [
    "BPF_OBJ_NAME_LEN", "BtfInfo", "BtfLoadAttr", "Cmd", "EnableStatsAttr", "FD", "FastCall",
    "GetIdAttr", "IterCreateAttr", "IterLinkInfo", "LinkCreateAttr", "LinkDetachAttr", "LinkInfo",
    "LinkUpdateAttr", "MapBatchAttr", "MapCreateAttr", "MapElemAttr", "MapFreezeAttr", "MapInfo",
    "ObjGetInfoAttr", "ObjPinAttr", "ProgAttachAttr", "ProgBindMapAttr", "ProgInfo",
    "ProgLoadAttr", "ProgQueryAttr", "ProgRunAttr", "RawTracepointOpenAttr", "TaskFdQueryAttr",
    "TokenCreateAttr", "bpf", "bpf_raw", "command_name", "commands", "trampoline_available",
]

# The modules that hold kernel ABI layouts, each the only owner of its layouts.
LAYOUT_MODULES = ("_types", "_types_attach", "_types_info")

# name -> the layout module imported on its first use
_LAZY: dict[str, str] = {
    "EnableStatsAttr": "._types_info",
    "IterCreateAttr": "._types_attach",
    "IterLinkInfo": "._types_attach",
    "LinkCreateAttr": "._types_attach",
    "LinkDetachAttr": "._types_attach",
    "LinkInfo": "._types_info",
    "LinkUpdateAttr": "._types_attach",
    "MapInfo": "._types_info",
    "ProgAttachAttr": "._types_attach",
    "ProgInfo": "._types_info",
    "ProgQueryAttr": "._types_attach",
    "RawTracepointOpenAttr": "._types_attach",
    "TaskFdQueryAttr": "._types_attach",
    "TokenCreateAttr": "._types_attach",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)
