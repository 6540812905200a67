"""struct_ops through the loader and ``ebpf.link.struct_ops``: a TCP congestion control
written in BPF (testdata/link_struct_ops.c, "ebpf_test_cc"), registered, selected for a
loopback connection with ``setsockopt(TCP_CONGESTION)`` and called by the kernel while data
flows; unregistered when the Link closes.

They run on the development kernel and in the VM runner's guests (``python3 scripts/vm.py
--kernel all -- -m vm tests/kernel/test_link_struct_ops.py``): the bpf_link form
(``.struct_ops.link``) needs Linux 6.4 and skips on 6.1; the map update form runs everywhere.
A kernel that refuses struct_ops programs (EPERM) skips with the trampoline probe's reason.

The congestion control is registered for the whole machine: each test gives it a name of its
own (the object's ``.name`` member, changed in the spec), so that concurrent runs never meet.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import ebpf
from ebpf import btf, link
from ebpf.errors import EbpfError
from ebpf.specs import StructOpsValue
from ebpf.types import LinkType, MapType

from ..support import feature_or_skip, trampolines_or_skip

pytestmark = [pytest.mark.kernel, pytest.mark.vm]

OBJECT = Path(__file__).resolve().parents[2] / "testdata" / "link_struct_ops-el.elf"
CC = f"ebpf_cc_{os.getpid() % 1000000}"  # at most 15 characters
INIT, CONG_AVOID, SSTHRESH = range(3)
AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"
TCP_CONGESTION = getattr(socket, "TCP_CONGESTION", 13)


@dataclass
class LinkObjects(ebpf.Objects):
    ebpf_cc_link: ebpf.Map = ebpf.field("ebpf_cc_link")
    calls: ebpf.Map = ebpf.field("calls")


@dataclass
class UpdateObjects(ebpf.Objects):
    ebpf_cc: ebpf.Map = ebpf.field("ebpf_cc")
    calls: ebpf.Map = ebpf.field("calls")


def available() -> list[str]:
    with open(AVAILABLE) as f:
        return f.read().split()


def transfer(cc: str, nbytes: int = 1 << 20) -> str:
    """Connect over loopback with congestion control ``cc`` on the sending side, send
    ``nbytes``; return the congestion control the socket reports."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc.encode())
        chosen = client.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)
        client.connect(server.getsockname())
        conn, _ = server.accept()
        received = []

        def drain() -> None:
            with conn:
                while chunk := conn.recv(1 << 16):
                    received.append(len(chunk))

        reader = threading.Thread(target=drain)
        reader.start()
        client.sendall(bytes(nbytes))
        client.shutdown(socket.SHUT_WR)
        reader.join(timeout=60)
        assert sum(received) == nbytes
    return chosen.rstrip(b"\0").decode()


def load_spec() -> ebpf.CollectionSpec:
    """The object, its congestion control renamed to CC in both struct_ops maps."""
    spec = ebpf.load_collection_spec(OBJECT)
    for name in ("ebpf_cc", "ebpf_cc_link"):
        m = spec.maps[name]
        assert isinstance(m.value_type, btf.Struct)
        (field,) = (f for f in m.value_type.members if f.name == "name")
        key, value = m.contents[0]
        assert isinstance(value, StructOpsValue)
        data = bytearray(value.data)
        at = field.offset // 8
        assert data[at:at + 16].rstrip(b"\0") == b"ebpf_test_cc"
        data[at:at + 16] = CC.encode().ljust(16, b"\0")
        m.contents[0] = (key, replace(value, data=bytes(data)))
    return spec


def unknown_cc() -> None:
    with pytest.raises(OSError) as e:
        transfer(CC, 1)
    assert e.value.errno == errno.ENOENT


def test_struct_ops_spec_from_the_object() -> None:
    spec = ebpf.load_collection_spec(OBJECT)
    m = spec.maps["ebpf_cc_link"]
    assert m.type is MapType.STRUCT_OPS and m.flags == ebpf.MapFlags.LINK
    value = m.contents[0][1]
    assert value.programs == {"init": "ebpf_cc_init", "cong_avoid": "ebpf_cc_cong_avoid",
                              "ssthresh": "ebpf_cc_ssthresh", "undo_cwnd": "ebpf_cc_undo_cwnd"}
    assert spec.programs["ebpf_cc_init"].attach_to == "tcp_congestion_ops:init"
    assert spec.maps["ebpf_cc"].flags == 0


def test_congestion_control_registered_by_a_link() -> None:
    spec = load_spec()
    with trampolines_or_skip(), feature_or_skip():
        objs = spec.load_and_assign(LinkObjects())
    with objs:
        unknown_cc()  # loaded, not registered
        with link.struct_ops(objs.ebpf_cc_link) as lk:
            assert CC in available()
            assert transfer(CC) == CC
            assert int(objs.calls[INIT]) >= 1  # the connection's socket was set up with it
            assert int(objs.calls[CONG_AVOID]) > 0  # and acknowledgements went through it
            info = lk.info()
            assert info.type is LinkType.STRUCT_OPS
            assert info.target == {"map_id": objs.ebpf_cc_link.info().id}
        assert CC not in available()
        unknown_cc()


def test_congestion_control_registered_by_a_map_update() -> None:
    spec = load_spec()
    with trampolines_or_skip():
        objs = spec.load_and_assign(UpdateObjects())
    with objs:
        unknown_cc()
        with link.struct_ops(objs.ebpf_cc) as lk:
            assert lk.mechanism is link.Mechanism.MAP_UPDATE
            assert CC in available()
            assert transfer(CC) == CC
            assert int(objs.calls[INIT]) >= 1
            assert int(objs.calls[CONG_AVOID]) > 0
            assert lk.info().target == {"map_id": objs.ebpf_cc.info().id}
        assert CC not in available()
        unknown_cc()
        with pytest.raises(EbpfError, match="value is unknown here"):
            link.struct_ops(objs.ebpf_cc)  # used once
        with pytest.raises(EbpfError, match="not a STRUCT_OPS map"):
            link.struct_ops(objs.calls)
