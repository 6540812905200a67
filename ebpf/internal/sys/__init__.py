"""The syscall layer: ``bpf(2)``, its attr layouts, and ``FD``.

Only this package calls ``bpf(2)`` or knows a ``union bpf_attr`` layout.
"""

from . import commands as commands
from ._types import (
    BPF_OBJ_NAME_LEN as BPF_OBJ_NAME_LEN,
)
from ._types import (
    BtfInfo as BtfInfo,
)
from ._types import (
    BtfLoadAttr as BtfLoadAttr,
)
from ._types import (
    Cmd as Cmd,
)
from ._types import (
    EnableStatsAttr as EnableStatsAttr,
)
from ._types import (
    GetIdAttr as GetIdAttr,
)
from ._types import (
    IterCreateAttr as IterCreateAttr,
)
from ._types import (
    LinkCreateAttr as LinkCreateAttr,
)
from ._types import (
    LinkDetachAttr as LinkDetachAttr,
)
from ._types import (
    LinkInfo as LinkInfo,
)
from ._types import (
    LinkUpdateAttr as LinkUpdateAttr,
)
from ._types import (
    MapBatchAttr as MapBatchAttr,
)
from ._types import (
    MapCreateAttr as MapCreateAttr,
)
from ._types import (
    MapElemAttr as MapElemAttr,
)
from ._types import (
    MapFreezeAttr as MapFreezeAttr,
)
from ._types import (
    MapInfo as MapInfo,
)
from ._types import (
    ObjGetInfoAttr as ObjGetInfoAttr,
)
from ._types import (
    ObjPinAttr as ObjPinAttr,
)
from ._types import (
    ProgAttachAttr as ProgAttachAttr,
)
from ._types import (
    ProgBindMapAttr as ProgBindMapAttr,
)
from ._types import (
    ProgInfo as ProgInfo,
)
from ._types import (
    ProgLoadAttr as ProgLoadAttr,
)
from ._types import (
    ProgQueryAttr as ProgQueryAttr,
)
from ._types import (
    ProgRunAttr as ProgRunAttr,
)
from ._types import (
    RawTracepointOpenAttr as RawTracepointOpenAttr,
)
from ._types import (
    TaskFdQueryAttr as TaskFdQueryAttr,
)
from .fd import FD as FD
from .syscall import (
    FastCall as FastCall,
)
from .syscall import (
    bpf as bpf,
)
from .syscall import (
    bpf_raw as bpf_raw,
)
from .syscall import (
    trampoline_available as trampoline_available,
)
