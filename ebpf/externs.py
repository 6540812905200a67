"""Externs: what an object leaves for the loader to fill in from the running kernel.

* ``.kconfig`` variables (``extern int CONFIG_HZ __kconfig``): values from the kernel's
  configuration, plus the ones libbpf defines itself (``LINUX_KERNEL_VERSION``,
  ``LINUX_HAS_SYSCALL_WRAPPER``, ``LINUX_HAS_BPF_COOKIE``; another ``LINUX_*`` extern reads as
  0 when it is ``__weak``, as with libbpf, and fails the load otherwise);
* ``__ksym`` variables and kfuncs: BTF ids from the kernel's BTF (typed ksyms, kfuncs) or
  addresses from ``/proc/kallsyms`` (typeless ksyms);
* the BTF id of the attach target of tracing and LSM programs;
* struct_ops: the kernel's type and member of each struct_ops program, and the value of each
  struct_ops map laid out as the kernel's ``bpf_struct_ops_<name>``.

A ``__weak`` extern the kernel lacks reads as zero instead of failing the load; a call of a
missing ``__weak`` kfunc becomes a call of an invalid helper, which only dead code may contain.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from .asm import Instruction, Instructions
from .asm._raw import PSEUDO_BTF_ID
from .btf import (
    Array,
    Enum,
    Func,
    Int,
    IntEncoding,
    NotFoundError,
    Pointer,
    Spec,
    Struct,
    Typedef,
    Var,
    Void,
    load_kernel_spec,
    sizeof,
    underlying,
)
from .errors import EbpfError, NotSupportedError
from .internal.kernel import kernel_version
from .internal.platform import SYSCALL_PREFIXES
from .program import Program, _have_bpf_cookie
from .specs import CollectionSpec, MapSpec, ProgramSpec, StructOpsValue
from .types import AttachType, ProgramType
from .variables import VariableSpec

if TYPE_CHECKING:
    from .internal.kallsyms import Kallsyms
    from .internal.kconfig import KernelConfig

__all__ = ["ExternResolver"]

#: The helper id libbpf gives the call of a missing __weak kfunc (plus the extern's index), so
#: that the verifier names it if the call is reachable.
_POISON_KFUNC_BASE: Final = 2002000000

class ExternResolver:
    """Fills in the externs of one :class:`~ebpf.CollectionSpec` during one load; reads the
    kernel's configuration, symbols and BTF at most once each."""

    def __init__(self, spec: CollectionSpec) -> None:
        self.spec = spec
        self._kernel: Spec | None = None
        self._config: KernelConfig | None = None
        self._kallsyms: Kallsyms | None = None

    def kernel_spec(self) -> Spec:
        """The running kernel's BTF (vmlinux), loaded on first use."""
        if self._kernel is None:
            self._kernel = load_kernel_spec()
        return self._kernel

    # .kconfig --------------------------------------------------------------------------------

    def kconfig_value(self, map_spec: MapSpec) -> bytes:
        """The ``.kconfig`` map's value: each extern from the running kernel.

        Raises:
            EbpfError: an extern that is not ``__weak`` is not set in the configuration, or
                its value does not fit its type.
        """
        buf = bytearray(map_spec.value_size)
        for var in self.spec.variables.values():
            if var.map_name != ".kconfig":
                continue
            raw = self._kconfig_raw(var)
            if raw is None:
                continue
            buf[var.offset:var.offset + var.size] = _kconfig_value(var, raw)
        return bytes(buf)

    def _kconfig_raw(self, var: VariableSpec) -> str | int | None:
        name = var.name
        if name == "LINUX_KERNEL_VERSION":
            major, minor, patch = kernel_version()
            return (major << 16) | (minor << 8) | min(patch, 255)
        if name == "LINUX_HAS_SYSCALL_WRAPPER":
            return int(self._has_syscall_wrapper())
        if name == "LINUX_HAS_BPF_COOKIE":
            try:
                _have_bpf_cookie()
            except NotSupportedError:
                return 0
            return 1
        if name.startswith("CONFIG_"):
            if self._config is None:
                from .internal.kconfig import read_kernel_config  # only objects with externs

                self._config = read_kernel_config()
            value = self._config.get(name)
            if value is None:
                if name in self.spec.weak_externs:
                    return None
                raise EbpfError(f"kconfig extern {name!r} is not set in the kernel's "
                                "configuration (declare it __weak to default to 0)")
            return value
        if name.startswith("LINUX_") and name in self.spec.weak_externs:
            # As libbpf does: LINUX_* are the loader's own; one this loader does not know
            # (a newer libbpf's) reads as 0 when the object declared it __weak.
            return None
        raise EbpfError(f"kconfig extern {name!r} is not known to the loader (known: "
                        "CONFIG_*, LINUX_KERNEL_VERSION, LINUX_HAS_SYSCALL_WRAPPER, "
                        "LINUX_HAS_BPF_COOKIE; declare other LINUX_* externs __weak to "
                        "default to 0)")

    def _has_syscall_wrapper(self) -> bool:
        """Whether syscalls enter through arch wrappers (``__x64_sys_*`` and friends), as
        libbpf's ``LINUX_HAS_SYSCALL_WRAPPER`` tells ``BPF_KSYSCALL`` programs."""
        kspec = self.kernel_spec()
        return any(kspec.types_by_name_and_class(f"{prefix}sys_bpf", Func)
                   for prefix in SYSCALL_PREFIXES)

    # kernel symbols ---------------------------------------------------------------------------

    def resolve_kernel_symbols(self, insns: Instructions, context: str) -> Instructions:
        """``insns`` with kernel BTF ids (kfuncs, typed ksyms) and addresses (typeless ksyms)
        written into the instructions that use ``__ksym`` externs.

        Raises:
            EbpfError: a symbol that is not ``__weak`` is missing from the kernel.
        """
        out: Instructions | None = None
        weak = self.spec.weak_externs
        for i, ins in enumerate(insns):
            ref = ins.reference
            if ref is None:
                continue
            if ins.is_kfunc_call and ins.constant == -1:
                cls: type = Func
            elif ins.is_ldimm64 and int(ins.src) == PSEUDO_BTF_ID and ins.constant == 0:
                cls = self._extern_kind(ref, context)
            else:
                continue
            if out is None:
                out = insns.copy()
            if cls is Void:
                addr = self._ksym_address(ref)
                if addr is None and ref not in weak:
                    raise EbpfError(f"{context}: kernel symbol {ref!r} is not in "
                                    "/proc/kallsyms (declare it __weak to read 0)")
                out[i] = Instruction(ins.opcode, ins.dst, constant=addr or 0,
                                     symbol=ins.symbol, source=ins.source)
                continue
            kspec = self.kernel_spec()
            try:
                tid = kspec.type_id(kspec.type_by_name(ref, cls))
            except NotFoundError:
                if ref not in weak:
                    raise EbpfError(f"{context}: kernel symbol {ref!r} is not in the kernel's "
                                    "BTF") from None
                if ins.is_call:
                    out[i] = Instruction(ins.opcode, constant=_POISON_KFUNC_BASE
                                         + self._extern_index(ref), symbol=ins.symbol,
                                         source=ins.source)
                else:
                    out[i] = Instruction(ins.opcode, ins.dst, constant=0, symbol=ins.symbol,
                                         source=ins.source)
                continue
            out[i] = ins.with_constant(tid)
        return insns if out is None else out

    def _extern_kind(self, name: str, context: str) -> type:
        """``Func`` for a kfunc, ``Void`` for a typeless ksym, else ``Var``."""
        types = self.spec.types
        if types is None:
            raise EbpfError(f"{context}: the kernel symbol extern {name!r} needs the object's "
                            "BTF to say what it is, and the object has no usable .BTF")
        for t in types.types_by_name(name):
            if isinstance(t, Func):
                return Func
            if isinstance(t, Var):
                return Void if isinstance(underlying(t.type), Void) else Var
        return Var

    def _extern_index(self, name: str) -> int:
        names = sorted({n for p in self.spec.programs.values()
                        for n in (ins.reference for ins in p.instructions
                                  if ins.is_kfunc_call) if n is not None})
        return names.index(name) if name in names else 0

    def _ksym_address(self, name: str) -> int | None:
        if self._kallsyms is None:
            from .internal.kallsyms import read_kallsyms  # only typeless ksyms need it

            self._kallsyms = read_kallsyms()
        return self._kallsyms.address(name)

    # attach targets ---------------------------------------------------------------------------

    def attach_btf_id(self, spec: ProgramSpec, context: str) -> int:
        """The kernel BTF id of the attach target of a tracing or LSM program.

        Raises:
            EbpfError: the section names no target, or the kernel's BTF lacks it.
        """
        target = spec.attach_to
        if not target:
            raise EbpfError(f"{context}: {spec.type.name} programs need an attach target "
                            "in the section name (e.g. SEC(\"tp_btf/sched_switch\"))")
        at = spec.attach_type
        kspec = self.kernel_spec()
        name = target
        cls: type = Func
        if at == AttachType.TRACE_RAW_TP:
            name, cls = f"btf_trace_{target}", Typedef
        elif at == AttachType.TRACE_ITER:
            name = f"bpf_iter_{target}"
        elif spec.type == ProgramType.LSM:
            name = f"bpf_lsm_{target}"
        try:
            return int(kspec.type_id(kspec.type_by_name(name, cls)))
        except NotFoundError:
            raise EbpfError(f"{context}: attach target {target!r} ({name}) is not in the "
                            "kernel's BTF") from None

    # struct_ops ---------------------------------------------------------------------------

    def _struct_ops_types(self, name: str, context: str) -> tuple[Struct, Struct, int]:
        """The kernel's struct ``name``, its ``bpf_struct_ops_<name>`` value type, and the
        byte offset of the struct in that value."""
        kspec = self.kernel_spec()
        try:
            struct = kspec.type_by_name(name, Struct)
            value = kspec.type_by_name(f"bpf_struct_ops_{name}", Struct)
        except NotFoundError:
            raise EbpfError(f"{context}: the kernel has no struct_ops type {name!r} (no "
                            f"struct {name} and bpf_struct_ops_{name} in its BTF)") from None
        for m in value.members:
            if m.name == "data":
                return struct, value, m.offset // 8
        raise EbpfError(f"{context}: bpf_struct_ops_{name} in the kernel's BTF has no 'data'")

    def struct_ops_target(self, spec: ProgramSpec, context: str) -> tuple[int, int]:
        """The kernel BTF id of the struct a struct_ops program serves and the index of its
        member (the program's ``attach_btf_id`` and expected attach type), from
        ``attach_to = "<struct>:<member>"``.

        Raises:
            EbpfError: no struct_ops map uses the program, or the kernel lacks the struct or
                member.
        """
        name, sep, member = spec.attach_to.partition(":")
        if not sep:
            raise EbpfError(f"{context}: no struct_ops map of the object uses this program, so "
                            "the struct and member it implements are unknown")
        struct, _, _ = self._struct_ops_types(name, context)
        for index, m in enumerate(struct.members):
            if m.name == member:
                return int(self.kernel_spec().type_id(struct)), index
        raise EbpfError(f"{context}: the kernel's struct {name} has no member {member!r}")

    def struct_ops_map_type(self, spec: MapSpec, context: str) -> tuple[int, int]:
        """The kernel BTF id and size of the value of struct_ops map ``spec``
        (``bpf_struct_ops_<name>``: what ``btf_vmlinux_value_type_id`` names).

        Raises:
            EbpfError: the kernel has no such struct_ops type.
        """
        local = spec.value_type
        if not isinstance(local, Struct) or not local.name:
            raise EbpfError(f"{context}: a struct_ops map needs its struct as the value type")
        _, vtype, _ = self._struct_ops_types(local.name, context)
        return int(self.kernel_spec().type_id(vtype)), vtype.size

    def struct_ops_value(self, spec: MapSpec, value: StructOpsValue,
                         programs: dict[str, Program], context: str) -> bytes:
        """The value of struct_ops map ``spec`` in the kernel's layout: the object's data
        members copied by name, and each program's descriptor in its function pointer member.

        Raises:
            EbpfError: a member set in the object is missing from the kernel's struct or has
                another size there.
        """
        local = spec.value_type
        if not isinstance(local, Struct):
            raise EbpfError(f"{context}: a struct_ops map needs its struct as the value type")
        struct, vtype, base = self._struct_ops_types(local.name, context)
        kernel_members = {m.name: m for m in struct.members}
        out = bytearray(vtype.size)
        for m in local.members:
            km = kernel_members.get(m.name)
            if m.name in value.programs:
                if km is None or not isinstance(underlying(km.type), Pointer):
                    raise EbpfError(f"{context}: the kernel's struct {local.name} has no "
                                    f"function pointer {m.name!r}")
                fd = programs[value.programs[m.name]].fd
                at = base + km.offset // 8
                out[at:at + 8] = fd.to_bytes(8, sys.byteorder)  # a map value: host order
                continue
            start = m.offset // 8
            size = sizeof(m.type)
            raw = value.data[start:start + size]
            if m.bitfield_size or not any(raw):
                continue  # zero in the object: nothing to carry over
            if km is None:
                raise EbpfError(f"{context}: member {m.name!r} is set, but the kernel's struct "
                                f"{local.name} has no such member")
            if km.bitfield_size or sizeof(km.type) != size:
                raise EbpfError(f"{context}: member {m.name!r} is {size} bytes in the object "
                                f"and {sizeof(km.type)} in the kernel")
            if isinstance(underlying(km.type), Pointer):
                raise EbpfError(f"{context}: pointer member {m.name!r} can only hold a program")
            at = base + km.offset // 8
            out[at:at + size] = raw
        return bytes(out)

    def program_attach_btf_id(self, spec: ProgramSpec, target: Program, context: str) -> int:
        """The BTF id, in the BTF of the loaded program ``target``, of the function an
        extension (or tracing) program attaches to: the one its section names.

        Raises:
            EbpfError: the section names no function, or ``target`` lacks it.
        """
        if spec.type not in (ProgramType.EXT, ProgramType.TRACING):
            raise EbpfError(f"{context}: only extension (freplace) and tracing programs "
                            f"attach to another program, not {spec.type.name} programs")
        if not spec.attach_to:
            raise EbpfError(f"{context}: the section names no function of the target "
                            "program (e.g. SEC(\"freplace/handle_packet\"))")
        return program_function_btf_id(target, spec.attach_to, context)


def program_function_btf_id(target: Program, function: str, context: str) -> int:
    """The BTF id of global function ``function`` in the BTF the loaded program ``target``
    was loaded with: what an extension program, or a tracing program on a BPF program,
    attaches to.

    Raises:
        EbpfError: ``target`` has no BTF, or its BTF has no such function.
    """
    from .btf.handle import Handle  # not at import: only extension programs need it
    from .info import program_info

    info = program_info(target.fd)
    if not info.btf_id:
        raise EbpfError(f"{context}: target program {target.name!r} was loaded without BTF, "
                        f"so its function {function!r} cannot be found")
    with Handle.from_id(info.btf_id) as handle:
        types = handle.spec()
    try:
        return int(types.type_id(types.type_by_name(function, Func)))
    except NotFoundError:
        raise EbpfError(f"{context}: target program {target.name!r} has no function "
                        f"{function!r} in its BTF") from None


def _kconfig_value(var: VariableSpec, raw: str | int) -> bytes:
    """Encode a Kconfig value for an extern of ``var``'s type, as libbpf's conventions say:
    ``bool`` takes y/n, ``char`` the letter, ``enum libbpf_tristate`` y=1/n=0/m=2, integers
    the number, ``char[]`` the string."""
    order = var.byte_order
    t = underlying(var.type) if var.type is not None else None
    what = f"kconfig extern {var.name!r}"
    if isinstance(raw, int):
        return raw.to_bytes(var.size, order)
    if isinstance(t, Int) and t.encoding & IntEncoding.BOOL:
        if raw not in ("y", "n"):
            raise EbpfError(f"{what}: a bool takes y or n, the kernel has {raw!r}")
        return (1 if raw == "y" else 0).to_bytes(var.size, order)
    if isinstance(t, Int) and var.size == 1 and (t.encoding & IntEncoding.CHAR
                                                 or t.name == "char"):
        if raw not in ("y", "n", "m"):
            raise EbpfError(f"{what}: a char takes y, n or m, the kernel has {raw!r}")
        return raw.encode()
    if isinstance(t, Enum) and raw in ("y", "n", "m"):
        return {"n": 0, "y": 1, "m": 2}[raw].to_bytes(var.size, order)
    if isinstance(t, Array):
        if not (raw.startswith('"') and raw.endswith('"')):
            raise EbpfError(f"{what}: a char array takes a string, the kernel has {raw!r}")
        text = raw[1:-1].encode()[: var.size - 1]
        return text + bytes(var.size - len(text))
    if isinstance(t, (Int, Enum)):
        try:
            value = int(raw, 0)
        except ValueError:
            raise EbpfError(f"{what}: {raw!r} is not a number") from None
        signed = isinstance(t, Int) and bool(t.encoding & IntEncoding.SIGNED)
        try:
            return value.to_bytes(var.size, order, signed=signed)
        except OverflowError:
            raise EbpfError(f"{what}: {value} does not fit in {var.size} bytes") from None
    raise EbpfError(f"{what}: unsupported type {t}")
