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
    from ._group import LinkGroup as LinkGroup
    from ._uprobe import (
        uprobe as uprobe,
        uprobe_multi as uprobe_multi,
        uretprobe as uretprobe,
    )
    from ._usdt import usdt as usdt
    from .link import (
        BPFLink as BPFLink,
        Link as Link,
        LinkInfo as LinkInfo,
        Mechanism as Mechanism,
        from_fd as from_fd,
        from_id as from_id,
        load_pinned as load_pinned,
    )

#: Every public name of the package, with the module that defines it.
_PUBLIC: dict[str, str] = {
    "BPFLink": ".link",
    "Link": ".link",
    "LinkGroup": "._group",
    "LinkInfo": ".link",
    "Mechanism": ".link",
    "from_fd": ".link",
    "from_id": ".link",
    "load_pinned": ".link",
    "uprobe": "._uprobe",
    "uprobe_multi": "._uprobe",
    "uretprobe": "._uprobe",
    "usdt": "._usdt",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _PUBLIC)
