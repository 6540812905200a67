"""The import policy (README, "Import policy"): what reading and loading an object may import.

The library is written with the standard library as intended (``typing``, ``dataclasses``,
``enum``, ``contextlib``, ``threading``). What keeps ``import ebpf`` and a load cheap is that
each path imports only the library modules it uses: the package namespaces are lazy (PEP 562),
and the modules for rarer work (attaching, inspecting, decoding values, writing code) are
imported where that work starts. Each path runs in a fresh interpreter here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OBJECT = ROOT / "testdata" / "tool_execsnoop-el.elf"

# Standard modules that only rare paths of the library need (subprocesses, event loops,
# sockets, files in formats other than ELF and BTF).
RARE_STDLIB = ["subprocess", "asyncio", "json", "gzip", "socket", "select", "selectors",
               "tempfile", "shutil", "pickle", "platform", "logging", "argparse"]

# Reading an object is data only: no syscall layer, no kernel objects, no kernel BTF, and none
# of the tools for writing or showing code.
NOT_ON_SPEC_PATH = [*RARE_STDLIB, "ctypes", "mmap",
                    "ebpf.internal.sys", "ebpf.map", "ebpf.program", "ebpf.loader",
                    "ebpf.collection", "ebpf.assign", "ebpf.info", "ebpf.btf.kernel",
                    "ebpf.btf.handle", "ebpf.asm.helpers", "ebpf.asm.builder",
                    "ebpf.asm.disasm", "ebpf.asm.opcode"]

# Loading needs only the layouts of ebpf.internal.sys._types: attaching, links, info, value
# codecs and the leaf packages are imported on first use.
NOT_ON_LOAD_PATH = [*RARE_STDLIB, "ebpf.internal.sys._types_attach",
                    "ebpf.internal.sys._types_info", "ebpf.info", "ebpf.btf.values",
                    "ebpf.asm.opcode", "ebpf.asm.disasm", "ebpf.asm.helpers", "ebpf.link",
                    "ebpf.ringbuf", "ebpf.perf", "ebpf.features", "ebpf.cli"]

SPEC_CHILD = """
import sys
import ebpf
spec = ebpf.load_collection_spec(sys.argv[1])
assert spec.programs
loaded = sorted(sys.modules)
import json
print(json.dumps(loaded))
"""

LOAD_CHILD = """
import sys
import ebpf
import ebpf.collection, ebpf.loader, ebpf.program, ebpf.map, ebpf.btf.handle, ebpf.btf.core
loaded = sorted(sys.modules)
import json
print(json.dumps(loaded))
"""


def _modules(child: str, *args: str) -> set[str]:
    # -S skips site, whose .pth files may import anything.
    out = subprocess.run([sys.executable, "-S", "-c", child, *args], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_reading_a_spec_imports_only_what_reading_needs() -> None:
    loaded = _modules(SPEC_CHILD, str(OBJECT))
    assert "ebpf.elf_reader" in loaded
    assert sorted(loaded & set(NOT_ON_SPEC_PATH)) == []


def test_loading_imports_no_attach_info_or_leaf_modules() -> None:
    loaded = _modules(LOAD_CHILD)
    assert "ebpf.internal.sys._types" in loaded
    assert sorted(loaded & set(NOT_ON_LOAD_PATH)) == []


def test_lazy_layouts_resolve_on_first_use() -> None:
    child = ("from ebpf.internal.sys import LinkCreateAttr, ProgInfo; "
             "print(LinkCreateAttr.__module__, ProgInfo.__module__)")
    out = subprocess.run([sys.executable, "-S", "-c", child], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["ebpf.internal.sys._types_attach",
                                  "ebpf.internal.sys._types_info"]
