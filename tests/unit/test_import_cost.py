"""What reading an object file imports: the spec path must stay free of heavy modules.

``import ebpf`` and :func:`ebpf.load_collection_spec` run in a fresh interpreter; the modules
below are the ones that once made that slow (``dataclasses`` pulls in ``inspect``; the helper
enum has over 200 members; the builder and disassembler are for writing and reading code; the
syscall layer and ctypes are for loading).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OBJECT = ROOT / "testdata" / "tool_execsnoop-el.elf"

NOT_ON_SPEC_PATH = ["dataclasses", "inspect", "typing_extensions", "platform", "ctypes",
                    "ebpf.asm.helpers", "ebpf.asm.builder", "ebpf.asm.disasm",
                    # Reading and linking compare the plain ints of ebpf.asm._raw.
                    "ebpf.asm.opcode",
                    # A spec is data: reading one needs neither the syscall layer nor the
                    # kernel objects (the specs live in ebpf._specs).
                    "ebpf.internal.sys", "ebpf.map", "ebpf.program", "ebpf.collection",
                    "ebpf.info", "ebpf.btf.kernel"]

CHILD = """
import json, sys
import ebpf
spec = ebpf.load_collection_spec(sys.argv[1])
assert spec.programs
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.skipif(not OBJECT.exists(), reason="testdata object missing")
def test_reading_a_spec_imports_no_heavy_modules() -> None:
    # -I would drop PYTHONPATH; -S skips site, whose .pth files may import anything.
    out = subprocess.run([sys.executable, "-S", "-c", CHILD, str(OBJECT)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "ebpf.elf_reader" in loaded
    assert sorted(loaded & set(NOT_ON_SPEC_PATH)) == []


# Loading a collection (the modules below) needs only the layouts of ebpf.internal.sys._types:
# those of attaching, links and info are imported on first use, as are ebpf.info, pinning and
# the map value codecs (tests/kernel/test_load_imports.py checks a real load).
NOT_ON_LOAD_PATH = ["ebpf.internal.sys._types_attach", "ebpf.internal.sys._types_info",
                    "ebpf.info", "ebpf.pin", "ebpf.btf.values", "ebpf.asm.opcode", "copy",
                    "fcntl"]

LOAD_CHILD = """
import json, sys
import ebpf.collection, ebpf.program, ebpf.map, ebpf.btf.handle, ebpf.btf.core
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_imports_no_attach_or_info_layouts() -> None:
    out = subprocess.run([sys.executable, "-S", "-c", LOAD_CHILD], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "ebpf.internal.sys._types" in loaded
    assert sorted(loaded & set(NOT_ON_LOAD_PATH)) == []


def test_lazy_layouts_resolve_on_first_use() -> None:
    child = ("import sys; from ebpf.internal.sys import LinkCreateAttr, ProgInfo; "
             "print(LinkCreateAttr.__module__, ProgInfo.__module__)")
    out = subprocess.run([sys.executable, "-S", "-c", child], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["ebpf.internal.sys._types_attach",
                                  "ebpf.internal.sys._types_info"]
