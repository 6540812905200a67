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

# typing (which imports re and contextlib) costs about 9 ms in a fresh interpreter: the library
# imports it for type checkers only (see ebpf.internal.static_typing). Locks come from _thread,
# which threading wraps.
NO_TYPING = ["typing", "re", "contextlib", "importlib", "threading"]

NOT_ON_SPEC_PATH = [*NO_TYPING, "dataclasses", "inspect", "typing_extensions", "platform",
                    "ctypes",
                    "ebpf.asm.helpers", "ebpf.asm.builder", "ebpf.asm.disasm",
                    # Reading and linking compare the plain ints of ebpf.asm._raw.
                    "ebpf.asm.opcode",
                    # A spec is data: reading one needs neither the syscall layer nor the
                    # kernel objects (the specs live in ebpf._specs).
                    "ebpf.internal.sys", "ebpf.map", "ebpf.program", "ebpf.collection",
                    "ebpf.info", "ebpf.btf.kernel"]

CHILD = """
import sys
import ebpf
spec = ebpf.load_collection_spec(sys.argv[1])
assert spec.programs
loaded = sorted(sys.modules)
import json  # after the list: json imports re
print(json.dumps(loaded))
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
NOT_ON_LOAD_PATH = [*NO_TYPING, "ebpf.internal.sys._types_attach", "ebpf.internal.sys._types_info",
                    "ebpf.info", "ebpf.pin", "ebpf.btf.values", "ebpf.asm.opcode", "copy",
                    "fcntl"]

LOAD_CHILD = """
import sys
import ebpf.collection, ebpf.program, ebpf.map, ebpf.btf.handle, ebpf.btf.core
loaded = sorted(sys.modules)
import json  # after the list: json imports re
print(json.dumps(loaded))
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


def test_names_made_on_first_use_without_typing() -> None:
    """The typing-based public names the load path leaves out still resolve when asked for."""
    child = (
        "import sys, ebpf.asm, ebpf.marshal, ebpf.program\n"
        "assert 'typing' not in sys.modules\n"
        "from typing import Literal, get_args\n"
        "assert get_args(ebpf.asm.ByteOrder) == ('little', 'big')\n"
        "class Blob:\n"
        "    def __bytes__(self): return b'ab'\n"
        "assert isinstance(Blob(), ebpf.marshal.Marshaler)\n"
        "assert not isinstance(1.5, ebpf.marshal.Marshaler)\n"
        "assert ebpf.marshal.encode(Blob(), 2, 'value') == b'ab'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", child], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "ok"
