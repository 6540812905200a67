"""Kept for old imports: the ELF reader lives in :mod:`ebpf.internal.elf`."""

from ebpf.internal.elf import ElfBTF as ElfBTF, read_btf_sections as read_btf_sections

__all__ = ["ElfBTF", "read_btf_sections"]
