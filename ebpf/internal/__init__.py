"""Private implementation details of the library.

Nothing under ``ebpf.internal`` is public API: names here may change in any release. Public
signatures never mention these types.
"""
