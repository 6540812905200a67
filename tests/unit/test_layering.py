"""The layer rules of STYLE.md section 3, checked on the source with ``ast``.

Every module under ``ebpf/`` is parsed (never imported) and each import is resolved to the
``ebpf`` module it names. Layers, lowest first::

    base      ebpf.errors, ebpf.types
    internal  ebpf.internal.*              (bpf(2), FDs, the kernel-object base, kernel facts)
    asm       ebpf.asm.*
    btf       ebpf.btf.*
    core      ebpf.specs, ebpf.map, ebpf.loader, ebpf.collection, ... (CORE_ORDER)
    leaf      ebpf.link, ebpf.ringbuf, ebpf.perf, ebpf.features, ebpf.histogram, ebpf.testing
    cli       ebpf.cli, ebpf.gen           (the tools: command line and code generator)
    api       ebpf                         (the package namespace: re-exports the others)

A module may import only from its own layer and the layers its rule lists. Imports inside
functions and under ``TYPE_CHECKING`` count too: a type-only dependency on a higher layer is
still one. Importing a submodule also runs its parent packages' ``__init__``; that is Python's
doing and is not counted.

Inside the core the modules are ordered too (``CORE_ORDER``): the specs and the ELF reader sit
below the kernel objects, which sit below the loader, so reading an object never depends on
loading one. The package namespace ``ebpf`` imports nothing itself (its names are imported on
first use), so the core and the leaves may call a public function through it: that is how the
two loading methods of a spec reach the loader above them, and how a collection reaches
:mod:`ebpf.link`.

Separately, the package has no import cycles, function-level imports included (imports under
``TYPE_CHECKING`` do not run, so they cannot form one).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "ebpf"

BASE = "base"
INTERNAL = "internal"
ASM = "asm"
BTF = "btf"
CORE = "core"
LEAF = "leaf"
CLI = "cli"
API = "api"   # the package namespace ``ebpf`` itself: it re-exports every layer's public names

LEAF_PACKAGES = ("ebpf.link", "ebpf.ringbuf", "ebpf.perf", "ebpf.features", "ebpf.histogram",
                 "ebpf.testing")

# The core, lowest first: a core module may import core modules of its own rank or below.
CORE_ORDER: tuple[tuple[str, ...], ...] = (
    ("ebpf.marshal", "ebpf.variables", "ebpf.section_names", "ebpf.linker", "ebpf.specs",
     "ebpf.kernel_versions"),
    ("ebpf.elf_reader",),                                    # reading makes specs
    ("ebpf.map", "ebpf.batch", "ebpf.program", "ebpf.info", "ebpf.rlimit"),  # kernel objects
    ("ebpf.externs", "ebpf.loader"),                         # the load transaction
    ("ebpf.assignment", "ebpf.collection"),                  # what holds loaded objects
)
CORE_RANK = {name: rank for rank, names in enumerate(CORE_ORDER) for name in names}
FACADE = "ebpf"

# layer -> the layers it may import from (its own is always allowed)
ALLOWED: dict[str, frozenset[str]] = {
    BASE: frozenset(),
    INTERNAL: frozenset({BASE}),
    ASM: frozenset({INTERNAL, BASE}),
    BTF: frozenset({ASM, INTERNAL, BASE}),
    CORE: frozenset({BTF, ASM, INTERNAL, BASE}),
    LEAF: frozenset({CORE, BTF, ASM, INTERNAL, BASE}),
    CLI: frozenset({LEAF, CORE, BTF, ASM, INTERNAL, BASE, API}),
    API: frozenset({CLI, LEAF, CORE, BTF, ASM, INTERNAL, BASE}),
}
# Who may reach the public API through the package namespace (which imports nothing itself).
ALLOWED[CORE] = ALLOWED[CORE] | {API}
ALLOWED[LEAF] = ALLOWED[LEAF] | {API}

# STYLE.md: btf uses asm, internal and errors only; not the public enums of the base layer.
BTF_FORBIDDEN_BASE = frozenset({"ebpf.types"})

BTF_SYS_GATEWAY = "ebpf.btf.handle"
# pyelftools is gone: ebpf.internal.elf reads ELF itself and nothing may import elftools.
FORBIDDEN_PACKAGES = ("elftools",)
SYSCALL_NAMES = ("SYS_bpf", "__NR_bpf")


def layer_of(module: str) -> str:
    if module == "ebpf":
        return API
    if module in ("ebpf.errors", "ebpf.types"):
        return BASE
    for prefix, layer in (("ebpf.internal", INTERNAL), ("ebpf.asm", ASM), ("ebpf.btf", BTF),
                          ("ebpf.cli", CLI), ("ebpf.gen", CLI), ("ebpf.__main__", CLI)):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    if any(module == p or module.startswith(p + ".") for p in LEAF_PACKAGES):
        return LEAF
    return CORE


@dataclasses.dataclass(frozen=True)
class Module:
    name: str            # dotted name, e.g. ebpf.internal.sys.fd
    path: str            # repo-relative path, for messages
    source: str
    is_package: bool     # an __init__.py


@dataclasses.dataclass(frozen=True)
class Import:
    target: str          # resolved dotted name
    line: int


def discover(package_dir: Path = PACKAGE_DIR) -> dict[str, Module]:
    root = package_dir.parent
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        out[name] = Module(name, rel.as_posix(), path.read_text(encoding="utf-8"), is_package)
    return out


def _resolve_relative(mod: Module, level: int, target: str | None) -> str:
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{target}" if target else base


def imports_of(mod: Module, tree: ast.AST, known: Iterable[str]) -> Iterator[Import]:
    """Every ``ebpf`` module that ``mod`` (parsed as ``tree``) imports, with its line."""
    known = set(known)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ebpf" or alias.name.startswith("ebpf."):
                    yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(mod, node.level, node.module)
            else:
                base = node.module or ""
            if base != "ebpf" and not base.startswith("ebpf."):
                continue
            names = [a.name for a in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            yield from (Import(s, node.lineno) for s in submodules)
            if len(submodules) < len(names):     # some names are attributes of `base` itself
                yield Import(base, node.lineno)


def _mentions_syscall(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = (func.attr if isinstance(func, ast.Attribute)
                      else func.id if isinstance(func, ast.Name) else None)
            if called == "syscall":
                yield node.lineno, "calls syscall()"
        text = None
        if isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.alias):
            text = node.asname or node.name
        if text and any(s in text for s in SYSCALL_NAMES):
            yield getattr(node, "lineno", 0), f"mentions {text!r}"


def violations(modules: dict[str, Module]) -> list[str]:
    """Every broken rule, as ``path:line: message``."""
    out: list[str] = []
    known = set(modules)
    for mod in modules.values():
        tree = ast.parse(mod.source, filename=mod.path)
        src_layer = layer_of(mod.name)
        allowed = ALLOWED[src_layer] | {src_layer}
        for imp in imports_of(mod, tree, known):
            where = f"{mod.path}:{imp.line}"
            dst_layer = layer_of(imp.target)
            if dst_layer not in allowed:
                out.append(f"{where}: {src_layer} module {mod.name} imports {imp.target} "
                           f"({dst_layer} layer)")
                continue
            if src_layer == CORE and dst_layer == CORE:
                src_rank, dst_rank = CORE_RANK.get(mod.name), CORE_RANK.get(imp.target)
                if src_rank is None or dst_rank is None:
                    missing = mod.name if src_rank is None else imp.target
                    out.append(f"{where}: core module {missing} has no place in CORE_ORDER "
                               "(tests/unit/test_layering.py)")
                elif dst_rank > src_rank:
                    out.append(f"{where}: {mod.name} imports {imp.target}, which sits above it "
                               "in the core (CORE_ORDER)")
            if src_layer == BTF and imp.target in BTF_FORBIDDEN_BASE:
                out.append(f"{where}: btf module {mod.name} imports {imp.target}; btf may use "
                           f"only ebpf.asm, ebpf.internal and ebpf.errors")
            if (src_layer == BTF and mod.name != BTF_SYS_GATEWAY
                    and (imp.target == "ebpf.internal.sys"
                         or imp.target.startswith("ebpf.internal.sys."))):
                out.append(f"{where}: {mod.name} imports {imp.target}; inside ebpf.btf only "
                           f"{BTF_SYS_GATEWAY} may use the syscall layer")
        if src_layer != INTERNAL:
            for line, what in _mentions_syscall(tree):
                out.append(f"{mod.path}:{line}: {what}; only ebpf.internal may make system calls")
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                if n.split(".")[0] in FORBIDDEN_PACKAGES:
                    out.append(f"{mod.path}:{node.lineno}: imports {n}; nothing may use "
                               "pyelftools (ebpf.internal.elf is the ELF reader)")
    return sorted(out)


# --- the tests -------------------------------------------------------------------------------

def _runtime_imports(mod: Module, tree: ast.AST, known: Iterable[str]) -> Iterator[Import]:
    """The imports of ``mod`` that run: every one but those under ``if TYPE_CHECKING:``."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    kept = ast.Module(body=[], type_ignores=[])
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
            kept.body.append(node)
    yield from imports_of(mod, kept, known)


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The import cycles among ``modules`` (strongly connected components of two or more)."""
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for mod in modules.values():
        tree = ast.parse(mod.source, filename=mod.path)
        graph[mod.name] = {i.target for i in _runtime_imports(mod, tree, known)
                           if i.target != mod.name and i.target != FACADE}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    found = cycles(discover())
    assert not found, "import cycles (function-level imports count):\n  " + "\n  ".join(
        " <-> ".join(c) for c in found)


def test_cycle_checker_finds_function_level_cycles() -> None:
    fake = _fake({**FAKE_BASE, "ebpf.specs": "def f():\n    from . import loader\n",
                  "ebpf.loader": "from .specs import MapSpec\n"})
    assert cycles(fake) == [["ebpf.loader", "ebpf.specs"]]
    fake = _fake({**FAKE_BASE, "ebpf.specs": "from typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    from .loader import X\n",
                  "ebpf.loader": "from .specs import MapSpec\n"})
    assert cycles(fake) == []


def test_package_is_found() -> None:
    modules = discover()
    assert "ebpf.errors" in modules, f"no ebpf/errors.py under {PACKAGE_DIR}"
    assert any(layer_of(m) == INTERNAL for m in modules)


def test_layers_are_respected() -> None:
    problems = violations(discover())
    assert not problems, "layer rules broken (STYLE.md section 3):\n  " + "\n  ".join(problems)


def _fake(modules: dict[str, str]) -> dict[str, Module]:
    out = {}
    for name, source in modules.items():
        is_package = name.endswith(".__init__")
        name = name.removesuffix(".__init__")
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        out[name] = Module(name, path, source, is_package)
    return out


FAKE_BASE = {
    "ebpf.__init__": "",
    "ebpf.errors": "",
    "ebpf.types": "",
    "ebpf.map": "",
    "ebpf.specs": "",
    "ebpf.variables": "",
    "ebpf.elf_reader": "",
    "ebpf.loader": "",
    "ebpf.collection": "",
    "ebpf.newthing": "",
    "ebpf.link.__init__": "",
    "ebpf.cli.__init__": "",
    "ebpf.internal.__init__": "",
    "ebpf.internal.sys.__init__": "",
    "ebpf.internal.sys.fd": "",
    "ebpf.internal.elf": "",
    "ebpf.asm.__init__": "",
    "ebpf.btf.__init__": "",
    "ebpf.btf.handle": "from ..internal import sys\n",
}


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("ebpf.internal.kernel", "from ..map import Map\n", "internal module"),
    ("ebpf.internal.kernel", "import ebpf\n", "imports ebpf (api layer)"),
    ("ebpf.asm.builder", "from ebpf.btf import handle\n", "imports ebpf.btf.handle"),
    ("ebpf.asm.builder", "from .. import map\n", "imports ebpf.map"),
    ("ebpf.btf.spec", "from ..internal.sys import fd\n", "only ebpf.btf.handle"),
    ("ebpf.btf.spec", "from ..internal import sys\n", "only ebpf.btf.handle"),
    ("ebpf.btf.spec", "from ebpf.types import MapType\n", "btf may use only"),
    ("ebpf.btf.spec", "def f():\n    from ebpf import map\n", "imports ebpf.map"),
    ("ebpf.map", "from ebpf.link import kprobe\n", "imports ebpf.link"),
    ("ebpf.map", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from .link import Link\n", "imports ebpf.link"),
    ("ebpf.collection", "import ebpf.ringbuf\n", "imports ebpf.ringbuf"),
    ("ebpf.specs", "def f():\n    from .loader import load\n", "sits above it in the core"),
    ("ebpf.elf_reader", "from .map import Map\n", "sits above it in the core"),
    ("ebpf.map", "from .collection import Collection\n", "sits above it in the core"),
    ("ebpf.map", "from .newthing import X\n", "has no place in CORE_ORDER"),
    ("ebpf.link.kprobe", "from ebpf import cli\n", "imports ebpf.cli"),
    ("ebpf.map", "import ctypes\nctypes.CDLL(None).syscall(321)\n", "calls syscall()"),
    ("ebpf.program", "SYS_bpf = 321\n", "mentions 'SYS_bpf'"),
    ("ebpf.btf.parse", "from elftools.elf.elffile import ELFFile\n", "pyelftools"),
    ("ebpf.internal.elf", "import elftools\n", "pyelftools"),
    ("ebpf.elf_reader", "def f():\n    import elftools.elf.elffile\n", "pyelftools"),
])
def test_checker_catches(module: str, source: str, expected: str) -> None:
    """The checker itself finds each kind of violation, so a pass above means something."""
    problems = violations(_fake({**FAKE_BASE, module: source}))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(("module", "source"), [
    ("ebpf.internal.sys.commands", "from ...errors import SyscallError\nfrom .fd import FD\n"),
    ("ebpf.internal.sys.syscall", "import ctypes\nctypes.CDLL(None).syscall(1)\nSYS_bpf = 1\n"),
    ("ebpf.asm.builder", "from ..internal import endian\nfrom ebpf.types import MapType\n"),
    ("ebpf.btf.core", "from ebpf.asm import opcode\nfrom ..errors import COREError\n"),
    ("ebpf.map", "from .btf import handle\nfrom .internal.sys import commands\n"),
    ("ebpf.specs", "import ebpf\nfrom .variables import VariableSpec\n"),
    ("ebpf.loader", "from .map import Map\nfrom .specs import MapSpec\n"),
    ("ebpf.link.kprobe", "from .. import map\nfrom ..features import misc\n"),
    ("ebpf.cli.main", "import ebpf.link\nimport ebpf.ringbuf\n"),
])
def test_checker_allows(module: str, source: str) -> None:
    assert violations(_fake({**FAKE_BASE, module: source})) == []
