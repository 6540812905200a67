"""``LinkGroup``: several attachments made by one call, held and released as one Link
(private to :mod:`ebpf.link`; USDT probes with several sites use it)."""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Sequence

from ..errors import ClosedError, EbpfError, NotSupportedError
from ..internal.sys import FD
from .link import Link, LinkInfo

__all__ = ["LinkGroup"]


class _Members:
    """The parts of a group and what to undo after them; released once, by ``close()`` or
    by the finalizer of a group that was dropped."""

    __slots__ = ("cleanups", "links", "lock")

    def __init__(self, links: Sequence[Link], cleanups: Sequence[Callable[[], None]]) -> None:
        self.links = list(links)
        self.cleanups = list(cleanups)
        self.lock = threading.Lock()

    def release(self, leaked: bool) -> None:
        with self.lock:
            links, self.links = self.links, []
            cleanups, self.cleanups = self.cleanups, []
        if leaked and links:
            warnings.warn(f"a group of {len(links)} attachments was not closed; detaching it "
                          "now", ResourceWarning, stacklevel=2)
        errors: list[BaseException] = []
        for link in links:
            try:
                link.close()
            except Exception as e:  # close every part, then report
                errors.append(e)
        for undo in cleanups:
            try:
                undo()
            except Exception as e:
                errors.append(e)
        if errors and not leaked:
            raise errors[0]


def _release_leaked(members: _Members) -> None:
    members.release(leaked=True)


class LinkGroup(Link):
    """Several attachments of one program made by one call (the sites of a USDT probe), as
    one Link: closing it closes every part, then undoes what the call set up for them (such
    as the USDT argument specs it wrote into the program's maps).

    :attr:`links` are the parts, lent (close the group, not them). :attr:`fd` and
    :attr:`mechanism` are those of the first part. A group cannot be pinned or updated: pin
    or inspect its parts.
    """

    __slots__ = ("_finalizer", "_members")

    _members: _Members
    _finalizer: weakref.finalize[[_Members], LinkGroup]

    @classmethod
    def _made(cls, links: Sequence[Link], cleanups: Sequence[Callable[[], None]] = ()
              ) -> LinkGroup:
        """A group owning ``links`` (at least one) and running ``cleanups`` after closing
        them."""
        if not links:
            raise EbpfError("a link group needs at least one attachment")
        group = cls.__new__(cls)
        # The group lends the first part's descriptor: it has none of its own.
        group._setup_link(links[0]._checked_fd("group"), links[0].mechanism)
        group._members = _Members(links, cleanups)
        group._finalizer = weakref.finalize(group, _release_leaked, group._members)
        return group

    @property
    def links(self) -> tuple[Link, ...]:
        """The attachments of the group, in the order they were made."""
        return tuple(self._members.links)

    @property
    def closed(self) -> bool:
        members = getattr(self, "_members", None)
        return members is None or not members.links

    def close(self) -> None:
        """Close every part, then undo what was set up for them. Calling it again does
        nothing. If a part fails to close, the others are closed still and the first error
        is raised at the end."""
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is None or finalizer.detach() is None:
            return
        self._members.release(leaked=False)

    def _checked_fd(self, action: str) -> FD:
        if self.closed:
            raise ClosedError(f"cannot {action} {self._label()}: it is closed")
        return super()._checked_fd(action)

    def _cloned(self, fd: FD) -> LinkGroup:
        fd.close()
        raise NotSupportedError("a group of attachments cannot be cloned; clone its parts")

    def info(self) -> LinkInfo:
        """The info of the first part (see :attr:`links` for the others).

        Raises:
            ClosedError: the group was closed.
        """
        self._checked_fd("get info of")
        return self._members.links[0].info()

    def pin(self, path: object) -> None:
        """Groups cannot be pinned (pin their :attr:`links`)."""
        raise NotSupportedError("a group of attachments cannot be pinned; pin its parts "
                                "(LinkGroup.links)")

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._members.links)} attachments"
        return f"<LinkGroup {self.mechanism.value} {state}>"
