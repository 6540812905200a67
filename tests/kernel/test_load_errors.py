"""What a user sees when the kernel refuses part of an object: the library's own error, with
its fields, naming the object that failed; never a ``TypeError`` from re-wrapping it."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from ebpf import btf
from ebpf.collection import Collection
from ebpf.elf_reader import load_collection_spec
from ebpf.errors import BTFError

pytestmark = pytest.mark.kernel

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


def test_rejected_btf_reaches_the_user_as_btf_load_error() -> None:
    spec = load_collection_spec(TESTDATA / "minimal-el.elf")
    # The members of xdp_md no longer fit: the kernel's BTF check refuses the blob.
    xdp_md = spec.types.type_by_name("xdp_md", btf.Struct)
    xdp_md.size = 1
    with pytest.raises(BTFError) as info:
        Collection(spec)
    e = info.value
    assert isinstance(e, btf.BTFLoadError), repr(e)
    assert "xdp_pass" in str(e)               # the program whose load needed the BTF
    assert "rejected the BTF" in str(e)
    assert "STRUCT xdp_md size=1" in e.log     # the kernel's own log is kept
    for again in (copy.copy(e), pickle.loads(pickle.dumps(e))):
        assert type(again) is type(e) and again.log == e.log and str(again) == str(e)
