"""The documentation site (docs/): it builds without a single Sphinx warning, its pages are
there, and every public module has an API reference page.

The build is what ``scripts/docs.sh`` runs in CI: ``sphinx -W --keep-going -E -b html``. It
needs Sphinx (the ``docs`` extra); without it the build test skips, saying so. The page check
reads files only and runs everywhere.

Public modules are ``ebpf``, every package directly under ``ebpf/`` but ``ebpf.internal``, and
every top-level module of ``ebpf/`` that is neither private (``_name``), nor one whose public
names the ``ebpf`` namespace re-exports (documented on the ``ebpf`` page), nor one of the
loader's implementation modules listed in ``IMPLEMENTATION``. A new module therefore needs a
page in ``docs/api/`` (or, if users never import it, an entry in ``IMPLEMENTATION``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ebpf"
DOCS = ROOT / "docs"
API = DOCS / "api"

# Top-level modules that users never import: the loader's machinery.
IMPLEMENTATION = {
    "ebpf.externs": "fills .kconfig/.ksyms/kfunc externs during a load",
    "ebpf.kernel_versions": "release numbers behind UnsupportedFeatureError",
    "ebpf.linker": "links functions into programs during a load",
    "ebpf.section_names": "SEC() names to program types, used by the ELF reader and link.attach",
}

# The pages a reader must find (relative to the HTML output).
KEY_PAGES = [
    "index.html",
    "getting-started.html",
    "coming-from.html",
    "guide/core.html",
    "guide/asm.html",
    "guide/btf.html",
    "guide/link.html",
    "guide/ringbuf.html",
    "guide/perf.html",
    "guide/features.html",
    "guide/histogram.html",
    "guide/testing.html",
    "guide/cli.html",
    "guide/gen.html",
    "api/index.html",
    "api/ebpf.html",
    "genindex.html",
]


def _reexported_modules() -> set[str]:
    """The modules whose names ``ebpf/__init__.py``'s ``_PUBLIC`` table re-exports."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == "_PUBLIC" and node.value is not None):
            table = ast.literal_eval(node.value)
            return {"ebpf" + source for source in table.values() if source.startswith(".")}
    raise AssertionError("ebpf/__init__.py has no _PUBLIC table")


def public_modules() -> list[str]:
    """Every public module of the package, found on the file system (see the module
    docstring): a module that does not import yet still counts."""
    found = ["ebpf"]
    reexported = _reexported_modules()
    for path in sorted(PACKAGE.iterdir()):
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith("_"):
            continue
        module = f"ebpf.{name}"
        if path.is_dir() and (path / "__init__.py").exists():
            if name != "internal":
                found.append(module)
        elif (path.suffix == ".py" and module not in reexported
              and module not in IMPLEMENTATION):
            found.append(module)
    return found


def _toctree_entries(page: Path) -> set[str]:
    entries: set[str] = set()
    in_tree = False
    for line in page.read_text().splitlines():
        if line.startswith(".. toctree::"):
            in_tree = True
        elif in_tree and line and not line.startswith(" "):
            in_tree = False
        elif in_tree and line.strip() and not line.strip().startswith(":"):
            entries.add(line.strip())
    return entries


def test_public_modules_are_found() -> None:
    modules = public_modules()
    for expected in ("ebpf", "ebpf.asm", "ebpf.btf", "ebpf.link", "ebpf.ringbuf", "ebpf.perf",
                     "ebpf.features", "ebpf.rlimit"):
        assert expected in modules
    assert "ebpf.internal" not in modules
    assert "ebpf.map" not in modules          # its names are documented on the ebpf page
    for module in IMPLEMENTATION:
        assert (PACKAGE / (module.split(".")[1] + ".py")).exists(), \
            f"{module} is listed in IMPLEMENTATION but no longer exists"


@pytest.mark.parametrize("module", public_modules())
def test_every_public_module_has_an_api_page(module: str) -> None:
    page = API / f"{module}.rst"
    assert page.exists(), (
        f"public module {module} has no API reference page: add docs/api/{module}.rst with "
        f"'.. automodule:: {module}' and list it in docs/api/index.rst (or, if users never "
        f"import it, add it to IMPLEMENTATION in {Path(__file__).name})")
    assert re.search(rf"^\.\. automodule:: {re.escape(module)}$", page.read_text(), re.M), \
        f"docs/api/{module}.rst does not document {module} with automodule"
    assert module in _toctree_entries(API / "index.rst"), \
        f"docs/api/index.rst does not list {module}"


def test_every_api_page_is_a_module_that_exists() -> None:
    unknown = {p.stem for p in API.glob("*.rst")} - {"index"} - set(public_modules())
    assert not unknown, f"API pages for modules that are not public or do not exist: {unknown}"


def test_docs_script_builds_with_warnings_as_errors() -> None:
    script = (ROOT / "scripts" / "docs.sh").read_text()
    command = next(line for line in script.splitlines() if "sphinx" in line and "exec" in line)
    assert "-W" in command.split() and "--keep-going" in command.split()


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("docs-html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         str(DOCS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"the documentation build failed:\n{proc.stderr}{proc.stdout}"
    return out


def test_site_builds_without_warnings(built_site: Path) -> None:
    missing = [page for page in KEY_PAGES if not (built_site / page).is_file()]
    assert not missing, f"pages missing from the built site: {missing}"


def test_every_public_module_is_rendered(built_site: Path) -> None:
    for module in public_modules():
        page = built_site / "api" / f"{module}.html"
        assert page.is_file(), f"{module}: no page in the built site"
        assert f'id="module-{module}"' in page.read_text(), f"{module}: autodoc rendered nothing"


def test_getting_started_shows_the_whole_path(built_site: Path) -> None:
    html = (built_site / "getting-started.html").read_text()
    for name in ("load_collection_spec", "test_run", "tracepoint", "ringbuf.Reader"):
        assert name in html, name
