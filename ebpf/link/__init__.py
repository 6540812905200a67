"""Attaching programs: every way the kernel runs a BPF program, as a :class:`Link`.

Each family is a function that attaches a loaded :class:`~ebpf.Program` and returns a
:class:`Link`; closing the Link (or leaving its ``with`` block) detaches the program::

    from ebpf import link

    with link.tracepoint("syscalls", "sys_enter_openat", objs.count_opens):
        ...

:func:`attach` reads what a program's ELF section says (libbpf's conventions, such as
``SEC("tp/syscalls/sys_enter_openat")``) and calls the right family;
:meth:`Collection.attach_all <ebpf.Collection.attach_all>` does it for a whole collection.
A Link is a bpf_link where the kernel has one for the family, else the older mechanism (perf
event, ``BPF_PROG_ATTACH``, netlink); :attr:`Link.mechanism` says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..internal.lazy import lazy_attributes

if TYPE_CHECKING:
    from .iterators import (
        CgroupIterOrder as CgroupIterOrder,
        IterLink as IterLink,
        iter as iter,
    )
    from .kprobes import (
        kprobe as kprobe,
        kprobe_multi as kprobe_multi,
        kretprobe as kretprobe,
        kretsyscall as kretsyscall,
        ksyscall as ksyscall,
        syscall_symbol as syscall_symbol,
    )
    from .link import (
        BPFLink as BPFLink,
        Link as Link,
        LinkInfo as LinkInfo,
        Mechanism as Mechanism,
        from_fd as from_fd,
        from_id as from_id,
        load_pinned as load_pinned,
    )
    from .perf_events import (
        PerfType as PerfType,
        SoftwareEvent as SoftwareEvent,
        perf_event as perf_event,
        perf_event_on_cpus as perf_event_on_cpus,
    )
    from .structops import struct_ops as struct_ops
    from .tracepoints import raw_tracepoint as raw_tracepoint, tracepoint as tracepoint
    from .trampolines import lsm as lsm, tracing as tracing

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "BPFLink": ".link",
    "CgroupIterOrder": ".iterators",
    "IterLink": ".iterators",
    "Link": ".link",
    "LinkInfo": ".link",
    "Mechanism": ".link",
    "PerfType": ".perf_events",
    "SoftwareEvent": ".perf_events",
    "from_fd": ".link",
    "from_id": ".link",
    "iter": ".iterators",
    "kprobe": ".kprobes",
    "kprobe_multi": ".kprobes",
    "kretprobe": ".kprobes",
    "kretsyscall": ".kprobes",
    "ksyscall": ".kprobes",
    "load_pinned": ".link",
    "lsm": ".trampolines",
    "perf_event": ".perf_events",
    "perf_event_on_cpus": ".perf_events",
    "raw_tracepoint": ".tracepoints",
    "struct_ops": ".structops",
    "syscall_symbol": ".kprobes",
    "tracepoint": ".tracepoints",
    "tracing": ".trampolines",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
