"""ctypes layouts of ``union bpf_attr`` and info structures: the ones creating objects needs.

One module owns each kernel ABI layout. This one holds ``enum bpf_cmd`` and what creating and
using maps, programs and BTF takes (and ``struct bpf_btf_info``, which :mod:`ebpf.btf.handle`
imports with the rest); loading a collection needs nothing else. The layouts of attaching and
links are in :mod:`._types_attach`, the other info structures in :mod:`._types_info`: each is
imported only on first use (``ebpf.internal.sys`` resolves their names lazily), because every
ctypes structure class costs time to build at import.

Field names are the kernel's own (``include/uapi/linux/bpf.h``); a trailing comment names the
kernel that added a late field. The kernel accepts an attr shorter than its own union (it
zero-fills the rest), so every structure here is passed with its own ``sizeof``.

Hand-maintained from the 6.18 UAPI until the generator (``tools/gen_sys_types.py``, which needs
``ebpf.btf``) replaces it; ``tests/unit/test_sys_types.py`` checks every offset against the
running kernel's BTF where it is available.
"""

from __future__ import annotations

import ctypes
from typing import Final

__all__ = [
    "BPF_OBJ_NAME_LEN", "BPF_TAG_SIZE", "BtfGetFdByIdAttr", "BtfInfo", "BtfLoadAttr", "Cmd",
    "GetIdAttr", "MapBatchAttr", "MapCreateAttr", "MapElemAttr", "MapFreezeAttr",
    "ObjGetInfoAttr", "ObjPinAttr", "ProgBindMapAttr", "ProgLoadAttr", "ProgRunAttr",
    "command_name",
]

_u8 = ctypes.c_uint8
_u32 = ctypes.c_uint32
_s32 = ctypes.c_int32
_u64 = ctypes.c_uint64

BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8


class Cmd:
    """``enum bpf_cmd``: the ``bpf(2)`` commands, as plain ints.

    Not an ``IntEnum``: nothing outside this package sees a command, and building an enum of
    this size is a measurable part of the time to load a collection. :func:`command_name`
    gives the kernel's name of one.
    """

    MAP_CREATE: Final = 0
    MAP_LOOKUP_ELEM: Final = 1
    MAP_UPDATE_ELEM: Final = 2
    MAP_DELETE_ELEM: Final = 3
    MAP_GET_NEXT_KEY: Final = 4
    PROG_LOAD: Final = 5
    OBJ_PIN: Final = 6
    OBJ_GET: Final = 7
    PROG_ATTACH: Final = 8
    PROG_DETACH: Final = 9
    PROG_TEST_RUN: Final = 10
    PROG_GET_NEXT_ID: Final = 11
    MAP_GET_NEXT_ID: Final = 12
    PROG_GET_FD_BY_ID: Final = 13
    MAP_GET_FD_BY_ID: Final = 14
    OBJ_GET_INFO_BY_FD: Final = 15
    PROG_QUERY: Final = 16
    RAW_TRACEPOINT_OPEN: Final = 17
    BTF_LOAD: Final = 18
    BTF_GET_FD_BY_ID: Final = 19
    TASK_FD_QUERY: Final = 20
    MAP_LOOKUP_AND_DELETE_ELEM: Final = 21
    MAP_FREEZE: Final = 22
    BTF_GET_NEXT_ID: Final = 23
    MAP_LOOKUP_BATCH: Final = 24
    MAP_LOOKUP_AND_DELETE_BATCH: Final = 25
    MAP_UPDATE_BATCH: Final = 26
    MAP_DELETE_BATCH: Final = 27
    LINK_CREATE: Final = 28
    LINK_UPDATE: Final = 29
    LINK_GET_FD_BY_ID: Final = 30
    LINK_GET_NEXT_ID: Final = 31
    ENABLE_STATS: Final = 32
    ITER_CREATE: Final = 33
    LINK_DETACH: Final = 34
    PROG_BIND_MAP: Final = 35
    TOKEN_CREATE: Final = 36
    PROG_STREAM_READ_BY_FD: Final = 37

    __slots__ = ()


_COMMAND_NAMES: dict[int, str] = {}


def command_name(cmd: int) -> str:
    """The kernel's name of ``cmd``, e.g. ``BPF_MAP_CREATE`` (``BPF_CMD_<n>`` if unknown)."""
    if not _COMMAND_NAMES:
        _COMMAND_NAMES.update((value, f"BPF_{name}") for name, value in vars(Cmd).items()
                              if not name.startswith("_"))
    return _COMMAND_NAMES.get(cmd, f"BPF_CMD_{cmd}")


class MapCreateAttr(ctypes.Structure):
    """``BPF_MAP_CREATE``."""

    _fields_ = [
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("inner_map_fd", _u32),
        ("numa_node", _u32),                    # 4.14
        ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN),  # 4.15
        ("map_ifindex", _u32),                  # 4.16
        ("btf_fd", _u32),                       # 4.18
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_value_type_id", _u32),    # 5.6
        ("map_extra", _u64),                    # 5.16
        ("value_type_btf_obj_fd", _s32),        # 6.9
        ("map_token_fd", _s32),                 # 6.9
        ("excl_prog_hash", _u64),               # 6.18
        ("excl_prog_hash_size", _u32),          # 6.18
    ]


class _ValueOrNextKey(ctypes.Union):
    _fields_ = [("value", _u64), ("next_key", _u64)]


class MapElemAttr(ctypes.Structure):
    """``BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM``, ``BPF_MAP_GET_NEXT_KEY``,
    ``BPF_MAP_LOOKUP_AND_DELETE_ELEM``."""

    _anonymous_ = ("_u",)
    _fields_ = [
        ("map_fd", _u32),
        ("key", _u64),
        ("_u", _ValueOrNextKey),
        ("flags", _u64),
    ]


class MapFreezeAttr(ctypes.Structure):
    """``BPF_MAP_FREEZE`` (5.2)."""

    _fields_ = [("map_fd", _u32)]


class MapBatchAttr(ctypes.Structure):
    """``BPF_MAP_*_BATCH`` (5.6): the ``batch`` member of ``union bpf_attr``."""

    _fields_ = [
        ("in_batch", _u64),
        ("out_batch", _u64),
        ("keys", _u64),
        ("values", _u64),
        ("count", _u32),
        ("map_fd", _u32),
        ("elem_flags", _u64),
        ("flags", _u64),
    ]


class _AttachProgOrBtfObj(ctypes.Union):
    _fields_ = [("attach_prog_fd", _u32), ("attach_btf_obj_fd", _u32)]


class ProgLoadAttr(ctypes.Structure):
    """``BPF_PROG_LOAD``."""

    _anonymous_ = ("_u",)
    _fields_ = [
        ("prog_type", _u32),
        ("insn_cnt", _u32),
        ("insns", _u64),
        ("license", _u64),
        ("log_level", _u32),
        ("log_size", _u32),
        ("log_buf", _u64),
        ("kern_version", _u32),
        ("prog_flags", _u32),                   # 4.12
        ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),  # 4.15
        ("prog_ifindex", _u32),                 # 4.15
        ("expected_attach_type", _u32),         # 4.17
        ("prog_btf_fd", _u32),                  # 5.0
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("func_info_cnt", _u32),
        ("line_info_rec_size", _u32),
        ("line_info", _u64),
        ("line_info_cnt", _u32),
        ("attach_btf_id", _u32),                # 5.5
        ("_u", _AttachProgOrBtfObj),            # attach_btf_obj_fd: 5.11
        ("core_relo_cnt", _u32),                # 5.17
        ("fd_array", _u64),                     # 5.14
        ("core_relos", _u64),                   # 5.17
        ("core_relo_rec_size", _u32),
        ("log_true_size", _u32),                # 6.4
        ("prog_token_fd", _s32),                # 6.9
        ("fd_array_cnt", _u32),                 # 6.14
        ("signature", _u64),                    # 6.18
        ("signature_size", _u32),
        ("keyring_id", _s32),
    ]


class ProgRunAttr(ctypes.Structure):
    """``BPF_PROG_TEST_RUN``: the ``test`` member of ``union bpf_attr``."""

    _fields_ = [
        ("prog_fd", _u32),
        ("retval", _u32),
        ("data_size_in", _u32),
        ("data_size_out", _u32),
        ("data_in", _u64),
        ("data_out", _u64),
        ("repeat", _u32),
        ("duration", _u32),
        ("ctx_size_in", _u32),                  # 5.2
        ("ctx_size_out", _u32),
        ("ctx_in", _u64),
        ("ctx_out", _u64),
        ("flags", _u32),                        # 5.10
        ("cpu", _u32),
        ("batch_size", _u32),                   # 5.18
    ]


class ProgBindMapAttr(ctypes.Structure):
    """``BPF_PROG_BIND_MAP`` (5.10)."""

    _fields_ = [("prog_fd", _u32), ("map_fd", _u32), ("flags", _u32)]


class ObjPinAttr(ctypes.Structure):
    """``BPF_OBJ_PIN`` and ``BPF_OBJ_GET``."""

    _fields_ = [
        ("pathname", _u64),
        ("bpf_fd", _u32),
        ("file_flags", _u32),                   # 4.15
        ("path_fd", _s32),                      # 6.5
    ]


class GetIdAttr(ctypes.Structure):
    """``BPF_*_GET_NEXT_ID`` and ``BPF_*_GET_FD_BY_ID``.

    ``start_id`` doubles as ``prog_id``, ``map_id``, ``btf_id`` and ``link_id``.
    """

    _fields_ = [
        ("start_id", _u32),
        ("next_id", _u32),
        ("open_flags", _u32),                   # 4.15
        ("fd_by_id_token_fd", _s32),            # 6.17
    ]


BtfGetFdByIdAttr = GetIdAttr


class ObjGetInfoAttr(ctypes.Structure):
    """``BPF_OBJ_GET_INFO_BY_FD``: the ``info`` member of ``union bpf_attr``."""

    _fields_ = [("bpf_fd", _u32), ("info_len", _u32), ("info", _u64)]


class BtfLoadAttr(ctypes.Structure):
    """``BPF_BTF_LOAD``."""

    _fields_ = [
        ("btf", _u64),
        ("btf_log_buf", _u64),
        ("btf_size", _u32),
        ("btf_log_size", _u32),
        ("btf_log_level", _u32),
        ("btf_log_true_size", _u32),            # 6.4
        ("btf_flags", _u32),                    # 6.9
        ("btf_token_fd", _s32),                 # 6.9
    ]


# --- OBJ_GET_INFO_BY_FD payloads (the others are in _types_info) ------------------------------

class BtfInfo(ctypes.Structure):
    """``struct bpf_btf_info``."""

    _fields_ = [
        ("btf", _u64),
        ("btf_size", _u32),
        ("id", _u32),
        ("name", _u64),                         # 5.11
        ("name_len", _u32),
        ("kernel_btf", _u32),
    ]
