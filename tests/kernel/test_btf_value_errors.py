"""A map whose values have BTF: a value of the wrong shape is refused with an error that names
the map, the field and the C type, and nothing reaches the kernel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ebpf.elf_reader import load_collection_spec
from ebpf.map import Map
from ebpf.marshal import MarshalError

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def test_map_value_errors_name_the_field() -> None:
    spec = load_collection_spec(TESTDATA / "maps-el.elf").maps["stats"]  # struct pkt_stats
    with Map(spec) as m:
        m[1] = {"packets": 5, "bytes": 1500}
        before = m[1]
        with pytest.raises(MarshalError) as info:
            m[1] = {"packets": "many"}
        text = str(info.value)
        assert text == "value of map 'stats': packets: unsigned long long needs an int, not str"
        assert not re.search(r"<\w+ '", text), text
        assert info.value.__cause__.path == ("packets",)  # type: ignore[union-attr]
        with pytest.raises(MarshalError, match=r"bytes: -1 does not fit unsigned long long"):
            m[1] = {"bytes": -1}
        with pytest.raises(MarshalError, match=r": struct pkt_stats has no member 'drops'$"):
            m[1] = {"drops": 1}
        with pytest.raises(MarshalError, match=r": struct pkt_stats needs a mapping of member "):
            m[1] = [1, 2]
        with pytest.raises(MarshalError, match=r"^key of map 'stats': unsigned int needs an "
                                               r"int, not str$"):
            m["one"] = {"packets": 1}
        assert m[1] == before == {"packets": 5, "bytes": 1500}  # nothing was written
