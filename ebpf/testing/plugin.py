"""The ``ebpf`` pytest plugin, loaded through the ``pytest11`` entry point wherever the package
is installed.

Markers:

- ``@pytest.mark.kernel``: the test needs ``bpf(2)`` with privileges. Without them it skips,
  naming the reason, or fails under ``EBPF_REQUIRE_KERNEL=1`` (what CI sets).
- ``@pytest.mark.requires_kernel("6.1")``: skip on an older kernel, naming both versions.
- ``@pytest.mark.requires_feature(MapType.RINGBUF, "helper:xdp:redirect_map", ...)``: skip
  unless every feature is there, as the probes of :mod:`ebpf.features` say (the argument forms
  are listed in :func:`ebpf.testing.resolve_feature`). Under ``EBPF_REQUIRE_KERNEL=1`` a
  missing feature fails the test unless its name contains one of the ``ebpf_known_missing``
  ini lines.
- ``@pytest.mark.no_leaks``: the full leak check for this test (see below);
  ``@pytest.mark.allow_leaks`` exempts a test from a session-wide check.

Fixtures: ``bpffs`` (a private bpffs, unmounted after), ``pin_dir`` (a directory in it),
``tracefs``, ``netns`` (a fresh network namespace the test's thread runs in), ``veth_pair``
(a veth pair in it), ``cgroup`` (a new cgroup v2 directory), ``load_collection`` (loads an
object file, closed after the test), ``ebpf_leak_check`` (the full leak check).

The leak check fails a test that leaves a descriptor open, a pin in a bpffs, or a program or
link it made still in the kernel (attached). ``--ebpf-leak-check=LEVEL`` (or the
``ebpf_leak_check`` ini option) runs it for every test: ``bpf`` compares BPF descriptors
only, ``fds`` every descriptor, ``full`` descriptors, pins and kernel objects; ``off`` (the
default) only where a test asks.

Importing this module is cheap: it needs nothing of the library until a test uses it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import _env

if TYPE_CHECKING:
    from ..collection import Collection
    from ..loader import CollectionOptions
    from ._leaks import LeakCheck
    from ._system import Cgroup, NetNamespace, VethPair

__all__ = [
    "bpffs",
    "cgroup",
    "ebpf_leak_check",
    "load_collection",
    "netns",
    "pin_dir",
    "tracefs",
    "veth_pair",
]

LEAK_LEVELS = ("off", "bpf", "fds", "full")

_MARKERS = (
    "kernel: needs bpf(2) with CAP_BPF/CAP_SYS_ADMIN; skipped without (naming why) unless "
    "EBPF_REQUIRE_KERNEL=1, which fails it",
    "requires_kernel(version): skip on a kernel older than version (e.g. '6.1')",
    "requires_feature(*features): skip unless ebpf.features probes find every feature "
    "(ProgramType/MapType/LinkType members, (ProgramType, Helper|AttachType) pairs, probes, "
    "or strings like 'ringbuf', 'map_type:RINGBUF', 'helper:xdp:redirect_map')",
    "no_leaks: fail the test if it leaves a descriptor, a bpffs pin or a BPF program or link "
    "behind",
    "allow_leaks: exempt the test from a session-wide --ebpf-leak-check",
    "allow_fd_growth: the test may keep BPF descriptors open (same as allow_leaks)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ebpf", "ebpf test support")
    group.addoption("--ebpf-leak-check", dest="ebpf_leak_check", default=None,
                    choices=LEAK_LEVELS,
                    help="check every test for leaks: bpf (BPF descriptors), fds (every "
                         "descriptor), full (descriptors, bpffs pins, BPF programs and links); "
                         "default: the ebpf_leak_check ini option, else off")
    parser.addini("ebpf_leak_check", "leak check level for every test (off, bpf, fds, full)",
                  default="off")
    parser.addini(_env.KNOWN_MISSING_INI, "kernel feature families the test kernel is known "
                  "to lack: they may skip even under EBPF_REQUIRE_KERNEL=1", type="linelist",
                  default=[])


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    _env.push_config(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _env.pop_config(config)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is not None:
        problem = _env.bpf_problem()
        if problem is not None:
            _env.skip_or_fail(problem)
    # A misused marker fails its test (not the session), saying what is wrong.
    for mark in item.iter_markers("requires_kernel"):
        if len(mark.args) != 1 or mark.kwargs:
            pytest.fail(f"requires_kernel takes one version, e.g. requires_kernel('6.1'), got "
                        f"{mark.args!r}", pytrace=False)
        try:
            _env.require_kernel_version(str(mark.args[0]))
        except ValueError as e:
            pytest.fail(f"requires_kernel: {e}", pytrace=False)
    for mark in item.iter_markers("requires_feature"):
        try:
            for arg in mark.args:
                _env.resolve_feature(arg)
        except ValueError as e:
            pytest.fail(str(e), pytrace=False)
        _env.check_features(mark.args)


# --- leak check -------------------------------------------------------------------------------

def _leak_level(request: pytest.FixtureRequest) -> str:
    node = request.node
    if node.get_closest_marker("no_leaks") or "ebpf_leak_check" in request.fixturenames:
        return "full"
    if node.get_closest_marker("allow_leaks") or node.get_closest_marker("allow_fd_growth"):
        return "off"
    config = request.config
    level = config.getoption("ebpf_leak_check", default=None) or config.getini(
        "ebpf_leak_check")
    level = str(level).strip().lower() or "off"
    if level not in LEAK_LEVELS:
        raise pytest.UsageError(f"ebpf_leak_check must be one of {', '.join(LEAK_LEVELS)}, "
                                f"not {level!r}")
    return level


_CHECK = pytest.StashKey["LeakCheck"]()


@pytest.fixture(autouse=True)
def _ebpf_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Runs the leak check where it is asked for (first set up, last torn down, so that it
    sees what the test's other fixtures leave behind)."""
    level = _leak_level(request)
    if level == "off":
        yield
        return
    from ._leaks import LeakCheck

    check = LeakCheck(kernel_objects=level == "full", only_bpf=level == "bpf")
    request.node.stash[_CHECK] = check
    check.start()
    yield
    problems = check.finish()
    if problems:
        pytest.fail("the test leaked:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def ebpf_leak_check(request: pytest.FixtureRequest) -> LeakCheck:
    """Fail the test if it leaves a descriptor open, a pin in a bpffs, or a program or link it
    made alive in the kernel (e.g. still attached). The check itself is returned."""
    check: LeakCheck = request.node.stash[_CHECK]
    return check


# --- file systems -----------------------------------------------------------------------------

def _safe_name(request: pytest.FixtureRequest) -> str:
    # bpffs refuses names with '.': keep letters, digits, '-' and '_'.
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)[:200]


@pytest.fixture
def bpffs() -> Iterator[str]:
    """A private bpffs mounted on a new temporary directory, unmounted after the test (with
    whatever is pinned in it). Skips (or fails under ``EBPF_REQUIRE_KERNEL=1``) where bpffs
    cannot be mounted."""
    from . import _system

    with tempfile.TemporaryDirectory(prefix="ebpf-test-bpffs-") as tmp:
        try:
            _system.mounted_bpffs(tmp)
        except OSError as e:
            _env.unavailable("mount a bpffs", e)
        try:
            yield tmp
        finally:
            _system.release_bpffs(tmp)


@pytest.fixture
def pin_dir(bpffs: str, request: pytest.FixtureRequest) -> str:
    """A directory named after the test inside :func:`bpffs`."""
    path = os.path.join(bpffs, _safe_name(request))
    os.mkdir(path)
    return path


@pytest.fixture(scope="session")
def tracefs() -> str:
    """tracefs, mounted at ``/sys/kernel/tracing`` if it is not mounted yet (and left
    mounted: other users may rely on it)."""
    from . import _system

    path = "/sys/kernel/tracing"
    if not os.path.exists(os.path.join(path, "events")):
        try:
            _system.mount("tracefs", path, "tracefs")
        except OSError as e:
            _env.unavailable("mount tracefs", e)
    return path


# --- namespaces and cgroups -------------------------------------------------------------------

@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    """A new network namespace that the test's thread runs in (and threads it starts), with
    its loopback up; the thread returns to its own namespace after the test. See
    :class:`ebpf.testing.NetNamespace` (``run``, ``enter``, ``ip``, ``fd``)."""
    from ._system import NetNamespace

    try:
        ns = NetNamespace()
    except OSError as e:
        _env.unavailable("make a network namespace", e)
    with ns:
        yield ns


@pytest.fixture
def veth_pair(netns: NetNamespace) -> VethPair:
    """A veth pair in :func:`netns`: ``veth0`` (10.11.0.1/24) and ``veth1`` (10.11.0.2/24),
    both up; names, ifindexes, addresses and MACs are given (``pair.a``, ``pair.b``)."""
    from ._system import make_veth_pair

    try:
        return make_veth_pair(netns)
    except OSError as e:
        _env.unavailable("make a veth pair", e)


@pytest.fixture
def cgroup() -> Iterator[Cgroup]:
    """A new cgroup v2 directory (``os.fspath(cgroup)`` is its path). ``cgroup.add()`` moves
    this process in, ``cgroup.add(pid)`` a child; after the test every process left in it is
    moved back to this process's cgroup and the directory is removed."""
    from ._system import Cgroup

    try:
        group = Cgroup()
    except OSError as e:
        _env.unavailable("make a cgroup v2 directory", e)
    with group:
        yield group


# --- loading ----------------------------------------------------------------------------------

def _find_object(name: str | os.PathLike[str], request: pytest.FixtureRequest) -> Path:
    path = Path(name)
    if path.is_absolute():
        return path
    bases = [request.path.parent, request.config.rootpath / "testdata",
             request.config.rootpath]
    suffix = "el" if sys.byteorder == "little" else "eb"
    for base in bases:
        for candidate in (base / path, base / f"{path}-{suffix}.elf"):
            if candidate.is_file():
                return candidate
    return bases[0] / path  # not there: loading names the path it tried


@pytest.fixture
def load_collection(request: pytest.FixtureRequest
                    ) -> Iterator[Callable[..., Collection]]:
    """A factory: ``load_collection("prog.o", options=None)`` loads every map and program of
    an object file and closes them after the test.

    A relative path is looked up next to the test module, then in the project's ``testdata``
    directory, then its root directory; a name without the file exists as ``NAME-el.elf``
    (``-eb`` on big-endian machines) too, the convention of objects built for both.
    """
    from ..collection import Collection
    from ..elf_reader import load_collection_spec

    loaded: list[Collection] = []

    def load(path: str | os.PathLike[str], options: CollectionOptions | None = None,
             **kwargs: Any) -> Collection:
        if kwargs:
            from ..loader import CollectionOptions as Options

            if options is not None:
                raise TypeError("load_collection: pass options= or keyword options, not both")
            options = Options(**kwargs)
        coll = Collection(load_collection_spec(_find_object(path, request)), options)
        loaded.append(coll)
        return coll

    try:
        yield load
    finally:
        while loaded:
            loaded.pop().close()
