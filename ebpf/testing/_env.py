"""What the running kernel offers a test, and how a test that needs more skips (or fails).

A test that cannot run for want of privileges or a kernel feature *skips*, naming the reason.
Under ``EBPF_REQUIRE_KERNEL=1`` (CI) the same test *fails* instead, except for a feature a
project declares missing on purpose (the ``ebpf_known_missing`` ini lines, see
:func:`known_missing`): CI must not go green by skipping everything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import NoReturn

import pytest

from ..errors import NotSupportedError, SyscallError, UnsupportedFeatureError

__all__ = [
    "bpf_problem",
    "known_missing",
    "require_kernel",
    "require_kernel_version",
    "resolve_feature",
    "skip_if_unsupported",
    "skip_or_fail",
    "unavailable",
]

#: The ini key (a list of lines) naming feature families the test kernel is known to lack.
KNOWN_MISSING_INI = "ebpf_known_missing"


def require_kernel() -> bool:
    """Whether ``EBPF_REQUIRE_KERNEL=1``: what would skip for want of the kernel fails."""
    return os.environ.get("EBPF_REQUIRE_KERNEL") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the running test for ``reason``, or fail it under ``EBPF_REQUIRE_KERNEL=1``."""
    if require_kernel():
        pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def unavailable(what: str, err: BaseException) -> NoReturn:
    """:func:`skip_or_fail` for a piece of test set-up (``what``) that ``err`` refused."""
    skip_or_fail(f"cannot {what}: {err}")


def _bpf_usable() -> str | None:
    """None if ``bpf(2)`` works here (a tiny array map is made and closed), else why not."""
    from ..internal.sys import MapCreateAttr, commands

    try:
        attr = MapCreateAttr(map_type=2, key_size=4, value_size=4, max_entries=1)
        commands.map_create(attr, "probe bpf(2)").close()
    except SyscallError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            return f"bpf(2) needs privileges (CAP_BPF/CAP_SYS_ADMIN): {e}"
        return f"bpf(2) failed: {e}"
    except NotSupportedError as e:
        return str(e)
    return None


_problem_lock = threading.Lock()
_problem: list[str | None] = []


def bpf_problem() -> str | None:
    """Why ``bpf(2)`` cannot be used by this process (``None``: it can). Asked once."""
    with _problem_lock:
        if not _problem:
            _problem.append(_bpf_usable())
        return _problem[0]


# The pytest configs of the running sessions, innermost last (pytester runs sessions inside a
# session): the known-missing families are read from the innermost.
_config: list[pytest.Config] = []


def push_config(config: pytest.Config) -> None:
    _config.append(config)


def pop_config(config: pytest.Config) -> None:
    if config in _config:
        _config.remove(config)


def known_missing() -> tuple[str, ...]:
    """The feature families the running session declares missing (lower case): the lines of
    the ``ebpf_known_missing`` ini option, which a ``conftest.py`` may add to with
    ``config.addinivalue_line("ebpf_known_missing", "kprobe")``."""
    if not _config:
        return ()
    try:
        lines = _config[-1].getini(KNOWN_MISSING_INI)
    except ValueError:  # the plugin did not register the option (not loaded)
        return ()
    return tuple(str(line).strip().lower() for line in lines if str(line).strip())


class skip_if_unsupported(contextlib.AbstractContextManager[None]):
    """Turn an :class:`~ebpf.errors.UnsupportedFeatureError` raised inside into a skip.

    Under ``EBPF_REQUIRE_KERNEL=1`` the error propagates (the test fails) unless the feature's
    name contains one of ``known`` (default: :func:`known_missing`)::

        with skip_if_unsupported():
            features.have_map_type(MapType.ARENA)

    The skip is reported at the test's ``with`` statement.
    """

    def __init__(self, known: Iterable[str] | None = None) -> None:
        self._known = None if known is None else tuple(k.lower() for k in known)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        __tracebackhide__ = True
        if not isinstance(exc, UnsupportedFeatureError):
            return  # propagate whatever else there was
        names = self._known if self._known is not None else known_missing()
        if require_kernel() and not any(k in exc.feature.lower() for k in names):
            return
        pytest.skip(f"kernel lacks {exc.feature}: {exc}")


def require_kernel_version(minimum: str) -> None:
    """Skip the running test if the kernel is older than ``minimum`` (``"6.1"``), naming
    both versions.

    Raises:
        ValueError: ``minimum`` is not a version.
    """
    from ..internal.kernel import KernelVersion, kernel_version

    wanted = KernelVersion.parse(str(minimum))
    running = kernel_version()
    if running < wanted:
        pytest.skip(f"needs Linux {wanted}, the running kernel is {running}")


def _enum_member(enum_type: type, text: str, what: str) -> object:
    key = text.strip()
    for candidate in (key, key.upper(), key.lower()):
        member = getattr(enum_type, "__members__", {}).get(candidate)
        if member is not None:
            return member
    names = ", ".join(list(enum_type.__members__)[:8])  # type: ignore[attr-defined]
    raise ValueError(f"requires_feature: no {what} {text!r} (e.g. {names}, ...)")


def _returning_none(probe: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        probe()

    return run


def resolve_feature(feature: object) -> tuple[str, Callable[[], None]]:
    """``(description, probe)`` for one argument of the ``requires_feature`` marker.

    Accepted: a :class:`~ebpf.ProgramType`, :class:`~ebpf.MapType` or :class:`~ebpf.LinkType`
    member; a ``(ProgramType, Helper)`` or ``(ProgramType, AttachType)`` pair; a probe of
    :mod:`ebpf.features` that takes no argument (``features.have_ringbuf``); or a string:
    ``"ringbuf"`` / ``"have_ringbuf"`` (a probe without arguments), ``"map_type:RINGBUF"``,
    ``"program_type:xdp"``, ``"link_type:tcx"``, ``"helper:xdp:redirect_map"``,
    ``"attach_type:cgroup_skb:cgroup_inet_ingress"``, ``"kfunc:syscall:bpf_obj_new_impl"``.

    Raises:
        ValueError: the argument names no feature; the message says what is accepted.
    """
    from .. import features
    from ..asm.helpers import Helper
    from ..types import AttachType, LinkType, MapType, ProgramType

    if isinstance(feature, MapType):
        mt = feature
        return f"map type {mt.name}", lambda: features.have_map_type(mt)
    if isinstance(feature, ProgramType):
        pt = feature
        return f"program type {pt.name}", lambda: features.have_program_type(pt)
    if isinstance(feature, LinkType):
        lt = feature
        return f"link type {lt.name}", lambda: features.have_link_type(lt)
    if isinstance(feature, tuple) and len(feature) == 2 and isinstance(feature[0], ProgramType):
        pt, second = feature
        if isinstance(second, Helper):
            helper = second
            return (f"helper {helper.name} in {pt.name} programs",
                    lambda: features.have_helper(pt, helper))
        if isinstance(second, AttachType):
            at = second
            return (f"attach type {at.name} for {pt.name} programs",
                    lambda: features.have_attach_type(pt, at))
    if callable(feature) and getattr(feature, "__module__", "").startswith("ebpf.features"):
        call: Callable[[], object] = feature
        return getattr(call, "__name__", repr(call)), _returning_none(call)
    if isinstance(feature, str):
        kind, _, rest = feature.partition(":")
        kind = kind.strip().lower()
        if not rest:
            name = kind if kind.startswith("have_") else f"have_{kind}"
            found = getattr(features, name, None)
            if name == "have_" or not callable(found):
                raise ValueError(f"requires_feature: ebpf.features has no probe {name!r}")
            named: Callable[[], object] = found
            return feature, _returning_none(named)
        if kind == "map_type":
            return resolve_feature(_enum_member(MapType, rest, "map type"))
        if kind == "program_type":
            return resolve_feature(_enum_member(ProgramType, rest, "program type"))
        if kind == "link_type":
            return resolve_feature(_enum_member(LinkType, rest, "link type"))
        if kind in ("helper", "attach_type", "kfunc"):
            pt_name, _, second_name = rest.partition(":")
            pt = _enum_member(ProgramType, pt_name, "program type")  # type: ignore[assignment]
            if kind == "helper":
                helper_name = second_name.strip()
                helper_name = helper_name[4:] if helper_name.startswith("bpf_") else helper_name
                return resolve_feature((pt, _enum_member(Helper, helper_name, "helper")))
            if kind == "attach_type":
                return resolve_feature((pt, _enum_member(AttachType, second_name,
                                                         "attach type")))
            kfunc = second_name.strip()
            return (f"kfunc {kfunc} in {pt.name} programs",
                    lambda: features.have_kfunc(pt, kfunc))
    raise ValueError(
        f"requires_feature: cannot tell which feature {feature!r} is; pass a ProgramType, "
        "MapType or LinkType member, a (ProgramType, Helper|AttachType) pair, an "
        "ebpf.features probe, or a string such as 'ringbuf', 'map_type:RINGBUF', "
        "'helper:xdp:redirect_map'")


def check_features(args: Iterable[object]) -> None:
    """Skip (or, for a probe that cannot decide, fail) the running test unless the kernel has
    every feature in ``args`` (see :func:`resolve_feature`)."""
    problem = bpf_problem()
    if problem is not None:
        skip_or_fail(problem)
    for arg in args:
        what, probe = resolve_feature(arg)
        try:
            probe()
        except UnsupportedFeatureError as e:
            if require_kernel() and not any(k in e.feature.lower() for k in known_missing()):
                pytest.fail(f"EBPF_REQUIRE_KERNEL=1 but the test needs {what}, and the kernel "
                            f"lacks {e.feature}: {e}", pytrace=False)
            pytest.skip(f"needs {what}; the kernel lacks {e.feature}: {e}")
        except NotSupportedError as e:  # not conclusive, but not there either
            skip_or_fail(f"needs {what}: {e}")
