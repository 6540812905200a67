"""Programs on sockmaps and sockhashes: stream parsers, verdicts on received data and on
sent messages.

A program attached to a ``SOCKMAP`` or ``SOCKHASH`` runs for every socket the map holds:
``SK_SKB`` programs on what the socket receives (a stream parser frames it, a verdict program
passes, drops or redirects it), ``SK_MSG`` programs on what it sends.
"""

from __future__ import annotations

import errno
from typing import Final, Literal

from ..errors import EbpfError, SyscallError
from ..map import Map
from ..program import Program
from ..types import AttachType, MapType, ProgramType
from ._common import ProgAttachLink, check_program, explain, have_sockmap_link, lacks, type_name
from .link import Link, Mechanism, create_bpf_link

__all__ = ["sockmap"]

_ATTACH: Final = {
    AttachType.SK_SKB_STREAM_PARSER: ProgramType.SK_SKB,
    AttachType.SK_SKB_STREAM_VERDICT: ProgramType.SK_SKB,
    AttachType.SK_SKB_VERDICT: ProgramType.SK_SKB,
    AttachType.SK_MSG_VERDICT: ProgramType.SK_MSG,
}
_NAMES: Final = {"stream_parser": AttachType.SK_SKB_STREAM_PARSER,
                 "stream_verdict": AttachType.SK_SKB_STREAM_VERDICT,
                 "skb_verdict": AttachType.SK_SKB_VERDICT,
                 "msg_verdict": AttachType.SK_MSG_VERDICT}

_HINTS: Final = {
    errno.EBUSY: "a program is attached there already (or a stream verdict and an skb "
                 "verdict program exclude each other)",
    errno.EINVAL: "the program was loaded for another attach type",
    errno.ENOENT: "the program is not attached there",
}

SockmapAttach = AttachType | Literal["stream_parser", "stream_verdict", "skb_verdict",
                                     "msg_verdict"]


def sockmap(map: Map, program: Program, attach_type: SockmapAttach, *,
            mechanism: Mechanism | None = None) -> Link:
    """Attach ``program`` to the ``SOCKMAP``/``SOCKHASH`` ``map`` at ``attach_type``:
    ``SK_SKB_STREAM_PARSER``, ``SK_SKB_STREAM_VERDICT``, ``SK_SKB_VERDICT`` (``SK_SKB``
    programs) or ``SK_MSG_VERDICT`` (``SK_MSG``), or their short names ``"stream_parser"``,
    ``"stream_verdict"``, ``"skb_verdict"``, ``"msg_verdict"``.

    Uses a bpf_link (Linux 6.10+) and falls back to ``BPF_PROG_ATTACH`` with the map as the
    target; ``mechanism=Mechanism.PROG_ATTACH`` asks for it. A ``PROG_ATTACH`` Link holds a
    descriptor of the map and one of the program, and detaches exactly its program when
    closed. ``map`` and ``program`` are borrowed.

    Raises:
        SyscallError: the kernel refused (``EBUSY``: a program is attached there already).
        EbpfError: not a sockmap, or a program type that does not fit the attach type.
    """
    if isinstance(attach_type, str) and attach_type in _NAMES:
        at = _NAMES[attach_type]
    elif isinstance(attach_type, int) and attach_type in _ATTACH:
        at = AttachType(attach_type)
    else:
        raise EbpfError(f"sockmap: {attach_type!r} is not a sockmap attach type "
                        f"(SK_SKB_STREAM_PARSER, SK_SKB_STREAM_VERDICT, SK_SKB_VERDICT, "
                        f"SK_MSG_VERDICT)")
    family = f"sockmap {type_name(at)}"
    check_program(program, family, (_ATTACH[at],))
    if not isinstance(map, Map):
        raise EbpfError(f"{family}: expected a Map, not {map!r}")
    if map.type not in (MapType.SOCKMAP, MapType.SOCKHASH):
        kind = map.type.name if isinstance(map.type, MapType) else str(map.type)
        raise EbpfError(f"{family}: map {map.name!r} is a {kind} map; programs attach to "
                        f"SOCKMAP and SOCKHASH maps")
    if mechanism not in (None, Mechanism.BPF_LINK, Mechanism.PROG_ATTACH):
        raise EbpfError(f"{family}: mechanism must be None, Mechanism.BPF_LINK or "
                        f"Mechanism.PROG_ATTACH, not {mechanism!r}")
    context = f"attach {type_name(at)} program {program.name!r} to map {map.name!r}"
    if mechanism is not Mechanism.PROG_ATTACH:
        try:
            return create_bpf_link(program, at, target_fd=map.fd, context=context)
        except SyscallError as e:
            if e.errno != errno.EINVAL or mechanism is Mechanism.BPF_LINK \
                    or not lacks(have_sockmap_link):
                if e.errno == errno.EINVAL and mechanism is Mechanism.BPF_LINK:
                    have_sockmap_link()
                raise explain(e, context, _HINTS) from None
    return ProgAttachLink.attach(program, map._checked_fd("attach to").dup(), at, flags=0,
                                 replace=None, exact=True, what=f"map {map.name!r}",
                                 hints=_HINTS)
