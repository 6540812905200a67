"""What a real load imports: modules that only reading map values, inspecting or attaching
need stay out until first use (the import policy in the README; tests/unit/test_import_cost.py
checks the imports alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
OBJECT = ROOT / "testdata" / "tool_execsnoop-el.elf"

NOT_LOADED = ["ebpf.btf.values", "ebpf.info", "ebpf.internal.sys._types_attach",
              "ebpf.internal.sys._types_info", "ebpf.link", "subprocess", "asyncio",
              # CO-RE, linking and loading compare the plain ints of ebpf.asm._raw.
              "ebpf.asm.opcode"]

CHILD = """
import sys
import ebpf
coll = ebpf.Collection(ebpf.load_collection_spec(sys.argv[1]))
loaded = sorted(sys.modules)
# The codecs come on first use: an array with a BTF value type still decodes.
m = next(m for m in coll.maps.values()
         if m.value_type is not None and m.type == ebpf.MapType.ARRAY)
value = m[0]
coll.close()
import json
print(json.dumps({"loaded": loaded, "decoded": not isinstance(value, bytes),
                  "codecs": "ebpf.btf.values" in sys.modules}))
"""


@pytest.mark.skipif(not OBJECT.exists(), reason="testdata object missing")
def test_loading_a_collection_leaves_rare_modules_out() -> None:
    out = subprocess.run([sys.executable, "-S", "-c", CHILD, str(OBJECT)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert "ebpf.collection" in result["loaded"]
    assert sorted(set(result["loaded"]) & set(NOT_LOADED)) == []
    assert result["codecs"] and result["decoded"]
