#!/usr/bin/env python3
"""Run part of the test suite inside Debian's 6.1 or 6.12 kernel, booted under qemu (TCG).

The development machine's kernel refuses some families outright (kprobes, trampoline programs,
module BTF, netkit); this script proves them against kernels that have them:

    python3 scripts/vm.py --kernel 6.1 -- tests/kernel/test_vm_kernel.py -k fentry
    python3 scripts/vm.py --kernel all -- -m vm tests/kernel
    python3 scripts/vm.py --kernel 6.12 --shell           # an interactive shell in the guest

Everything after ``--`` goes to pytest, which runs in the repository with the interpreter that
runs this script (or ``--python``), ``EBPF_REQUIRE_KERNEL=1`` and ``EBPF_VM_KERNEL=<release>``.

What it does, once, into ``.cache/vm/`` (git-ignored): picks the newest
``linux-image-6.1.0-N-amd64-unsigned`` / ``linux-image-6.12.N+debD-amd64-unsigned`` the package
lists hold, fetches it with ``apt-get download`` (running ``apt-get update`` only when that
fails), unpacks it with ``dpkg -x``, builds ``modules.dep`` with ``depmod -b`` and writes a small
initramfs: static busybox, the modules the guest needs to reach its file systems (virtio, 9p,
overlay; in ``modprobe --show-depends`` order) and an init script. Later runs reuse all of it.

The guest (``qemu-system-x86_64 -accel tcg -cpu max``; KVM cannot run a stock kernel on this
kind of machine) sees the host's ``/`` read-only over 9p under a tmpfs overlay (writes are
lost), the repository read-write at its host path, the kernel's own modules at
``/lib/modules/<release>`` (so the kernel can load modules on demand) and its configuration at
``/boot/config-<release>``, tmpfs at ``/tmp``, a fresh ext4 disk at ``/var/tmp`` (real block I/O,
O_DIRECT), bpffs, tracefs, debugfs, securityfs and cgroup v2 (at ``/sys/fs/cgroup/unified``, as on
the host), ``lo`` up and no other network. The console
(ttyS0) is streamed to stdout; pytest's exit status comes back through a file in a shared
directory, and this script exits with it.

Exit status: pytest's (0 passed, 1 failed, 5 no tests, ...); with ``--kernel all`` the first
non-zero one. 124: the guest ran past ``--timeout``. 125: the runner could not do its part
(tools, kernel package, boot, guest setup); the reason is printed.

Root on Debian installs what is missing (qemu-system-x86, busybox-static, kmod, e2fsprogs) with
apt-get, unless ``EBPF_SKIP_APT=1``.
Standard library only: this runs before the project's dependencies exist.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "vm"

#: Kernel series by the name used on the command line: how its image package is spelled.
SERIES = {
    "6.1": re.compile(r"^linux-image-(6\.1\.0-(\d+)-amd64)-unsigned$"),
    "6.12": re.compile(r"^linux-image-(6\.12\.(\d+)\+deb(\d+)-amd64)-unsigned$"),
}

#: What the initramfs loads (dependencies are added): the way to the host's files, and the
#: scratch disk (ext4 wants crc32c, which would otherwise be a module request at mount time).
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_blk", "ext4",
                     "crc32c_generic")

#: Host tools and the Debian packages that provide them.
HOST_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "depmod": "kmod",
    "mke2fs": "e2fsprogs",
    "modprobe": "kmod",
    "dpkg": "dpkg",
    "apt-get": "apt",
}
BUSYBOX = Path("/bin/busybox")  # from busybox-static: the initramfs needs a static one

SCRATCH_DISK_MB = 1024

EXIT_TIMEOUT = 124
EXIT_RUNNER = 125

MARK = "ebpf-vm:"  # prefix of the guest's own console lines
# Plain POSIX sh run by busybox (PID 1) in the initramfs. It loads the modules, builds the
# root (host / read-only under a tmpfs overlay) and hands over to the run's own stage 2, which
# the host writes for every run into the shared control directory.
INIT = r"""#!/bin/busybox sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() {
    echo "ebpf-vm: FATAL: $*"
    poweroff -f
}
echo
echo "ebpf-vm: kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime)s"
while read -r m; do
    insmod "/modules/$m" || fail "insmod $m failed"
done < /modules/order
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,cache=loose,ro" hostroot /lower || fail "cannot mount the host root (9p)"
mount -t tmpfs -o mode=755 tmpfs /upper || fail "cannot mount tmpfs"
mkdir /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot ||
    fail "cannot mount the overlay root"
mount -t tmpfs -o mode=755 tmpfs /newroot/run || fail "cannot mount /run"
mkdir -p /newroot/run/ebpf-vm/ctl
mount -t 9p -o "$opts,cache=none" ctl /newroot/run/ebpf-vm/ctl || fail "cannot mount ctl (9p)"
cp /bin/busybox /newroot/run/ebpf-vm/busybox
[ -f /newroot/run/ebpf-vm/ctl/stage2.sh ] || fail "no stage2.sh in the control directory"
for d in proc sys dev; do
    mount --move "/$d" "/newroot/$d" || fail "cannot move /$d"
done
exec switch_root /newroot /run/ebpf-vm/busybox sh /run/ebpf-vm/ctl/stage2.sh
"""

# Stage 2: PID 1 in the composed root. Filled in per run (values are shell-quoted).
STAGE2 = r"""
BB=/run/ebpf-vm/busybox
CTL=/run/ebpf-vm/ctl
fail() {
    echo "ebpf-vm: FATAL: $*"
    $BB sync
    $BB poweroff -f
}
mnt() {  # mnt TYPE TARGET [OPTIONS]
    $BB mkdir -p "$2" && $BB mount -t "$1" ${3:+-o "$3"} "$1" "$2" || fail "cannot mount $1 at $2"
}
# The kernel's modules (loaded on demand by the host's modprobe) and its configuration, where
# a Debian system with this kernel installed has them.
$BB mkdir -p "/lib/modules/$RELEASE" &&
    $BB mount --bind "$MODULES" "/lib/modules/$RELEASE" || fail "cannot bind the modules"
$BB cp "$CONFIG" "/boot/config-$RELEASE" || fail "cannot copy the kernel configuration"
mnt tmpfs /tmp mode=1777
# /var/tmp is a real (virtio) disk with ext4: block I/O and O_DIRECT work there, as on a host.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do $BB usleep 100000; i=$((i + 1)); done
$BB mount -t ext4 /dev/vda /var/tmp || fail "cannot mount the scratch disk at /var/tmp"
$BB chmod 1777 /var/tmp
mnt tmpfs /dev/shm mode=1777
mnt devpts /dev/pts
# cache=loose: every stat and open is a round trip to the host otherwise, and this guest is
# the repository's only writer while it runs (its writes reach the host by the sync below).
$BB mkdir -p "$REPO" &&
    $BB mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose repo "$REPO" ||
    fail "cannot mount the repository at $REPO (9p)"
mnt bpf /sys/fs/bpf
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
mnt securityfs /sys/kernel/security
# The host's layout: v1 controllers beside a unified hierarchy; only v2 here.
mnt tmpfs /sys/fs/cgroup mode=755
mnt cgroup2 /sys/fs/cgroup/unified
$BB ip link set lo up || fail "cannot bring lo up"
$BB hostname ebpf-vm
lsm=$($BB cat /sys/kernel/security/lsm)
echo "ebpf-vm: ready after $($BB cut -d' ' -f1 /proc/uptime)s; lsm=$lsm"
cd "$REPO" || fail "no $REPO"
if [ "$MODE" = shell ]; then
    echo "ebpf-vm: shell in $REPO (exit to power off)"
    guest $BB setsid -c /bin/bash -i </dev/ttyS0 >/dev/ttyS0 2>&1
else
    guest "$@"
fi
rc=$?
echo "ebpf-vm: exit status $rc after $($BB cut -d' ' -f1 /proc/uptime)s"
echo "$rc" > "$CTL/status.tmp" && $BB mv "$CTL/status.tmp" "$CTL/status"
$BB sync
$BB poweroff -f
"""


class RunnerError(Exception):
    """The runner could not do its part (not a test failure)."""


def log(msg: str) -> None:
    print(f"vm.py: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, cwd: Path | None = None, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, check=False)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RunnerError(f"{shlex.join(cmd)} exited with status {proc.returncode}:\n{tail}")
    return proc


# --- host tools ---------------------------------------------------------------------------------

def _is_static_elf(path: Path) -> bool:
    """Whether ``path`` is an ELF executable without a program interpreter (statically linked)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # 64-bit little-endian only
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(data[off:off + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def ensure_host_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)
                      and not Path("/usr/sbin", tool).exists()})
    if not _is_static_elf(BUSYBOX):
        missing.append("busybox-static")
    if not missing:
        return
    if not _may_use_apt():
        raise RunnerError(f"missing host packages: {' '.join(missing)} (install them as root)")
    log(f"installing {' '.join(missing)}")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if run(cmd, env=env, check=False).returncode != 0:
        run(["apt-get", "update", "-q"])
        run(cmd, env=env)
    if not _is_static_elf(BUSYBOX):
        raise RunnerError(f"{BUSYBOX} is not a static executable after installing busybox-static")


# --- the kernel package -------------------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    name: str  # linux-image-6.1.0-57-amd64-unsigned
    release: str  # 6.1.0-57-amd64 (uname -r)


def _version_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release))


def _available(series: list[str]) -> dict[str, list[Package]]:
    """Image packages of each series that the package lists hold with a candidate, newest first."""
    names = run(["apt-cache", "pkgnames", "linux-image-6."], check=False).stdout.split()
    found: dict[str, list[Package]] = {s: [] for s in series}
    for name in names:
        for s in series:
            m = SERIES[s].match(name)
            if m:
                found[s].append(Package(name, m.group(1)))
    wanted = [p.name for pkgs in found.values() for p in pkgs]
    if not wanted:
        return found
    policy = run(["apt-cache", "policy", *wanted], check=False).stdout
    with_candidate = set()
    for block in re.split(r"\n(?=\S)", policy):
        m = re.match(r"(\S+):\n(?:.*\n)*?\s+Candidate: (\S+)", block)
        if m and m.group(2) != "(none)":
            with_candidate.add(m.group(1))
    for s, pkgs in found.items():
        found[s] = sorted((p for p in pkgs if p.name in with_candidate),
                          key=lambda p: _version_key(p.release), reverse=True)
    return found


def _cached_releases(series: str) -> list[str]:
    pattern = SERIES[series]
    out = [d.name for d in CACHE.iterdir() if (d / "ready").exists()
           and pattern.match(f"linux-image-{d.name}-unsigned")] if CACHE.exists() else []
    return sorted(out, key=_version_key, reverse=True)


def _may_use_apt() -> bool:
    """Whether this process may install packages and refresh the package lists."""
    return (os.geteuid() == 0 and shutil.which("apt-get") is not None
            and os.environ.get("EBPF_SKIP_APT") != "1")


def _apt_update() -> None:
    if not _may_use_apt():
        raise RunnerError("the package lists need `apt-get update`, which needs root (and "
                          "EBPF_SKIP_APT unset)")
    log("apt-get update")
    run(["apt-get", "update", "-q"])


def resolve(series: list[str]) -> dict[str, str]:
    """The release to use for each series: the newest the lists hold, else the newest cached."""
    found = _available(series)
    if any(not found[s] for s in series) and _may_use_apt():
        _apt_update()
        found = _available(series)
    out = {}
    for s in series:
        if found[s]:
            out[s] = found[s][0].release
            continue
        cached = _cached_releases(s)
        if not cached:
            raise RunnerError(f"no linux-image package of the {s} series ({SERIES[s].pattern}) in "
                              "the package lists, and none cached in .cache/vm")
        log(f"no {s} kernel package in the package lists; using the cached {cached[0]}")
        out[s] = cached[0]
    return out


def _download(name: str, into: Path) -> Path:
    def attempt() -> subprocess.CompletedProcess[str]:
        for old in into.glob("*.deb"):
            old.unlink()
        return run(["apt-get", "download", name], cwd=into, check=False)

    proc = attempt()
    if proc.returncode != 0 and _may_use_apt():
        # Missing or stale lists are the usual cause: refresh once and retry.
        log(f"apt-get download {name} failed; refreshing the package lists")
        _apt_update()
        proc = attempt()
    debs = list(into.glob("*.deb"))
    if proc.returncode != 0 or len(debs) != 1:
        err = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise RunnerError(f"cannot download the kernel package {name} (apt-get download):\n{err}")
    return debs[0]


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _decompressed_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return run_bytes(["zstd", "-dc", str(path)])
    return data


def run_bytes(cmd: list[str]) -> bytes:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RunnerError(f"{shlex.join(cmd)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def _module_order(root: Path, release: str) -> list[Path]:
    """The module files to insmod, dependencies first, for :data:`INITRAMFS_MODULES`."""
    order: list[Path] = []
    for mod in INITRAMFS_MODULES:
        out = run(["modprobe", "-d", str(root), "-S", release, "--show-depends", mod]).stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod":
                p = Path(parts[1])
                if p not in order:
                    order.append(p)
    return order


class Cpio:
    """A ``newc`` cpio archive, as the kernel unpacks an initramfs (no cpio tool needed)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
               ) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        self.ino += 1
        head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        self.buf.write(head + b"\0" * (-len(head) % 4))
        self.buf.write(data + b"\0" * (-len(data) % 4))

    def dir(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _build_initramfs(root: Path, release: str, out: Path) -> None:
    modules = _module_order(root, release)
    arc = Cpio()
    for d in ("bin", "dev", "proc", "sys", "modules", "lower", "upper", "newroot", "tmp"):
        arc.dir(d)
    arc.chardev("dev/console", 5, 1)
    arc.chardev("dev/null", 1, 3)
    arc.file("init", INIT.encode(), 0o755)
    arc.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    names = []
    for path in modules:
        name = path.name.split(".ko")[0] + ".ko"
        arc.file(f"modules/{name}", _decompressed_module(path))
        names.append(name)
    arc.file("modules/order", "".join(f"{n}\n" for n in names).encode())
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(arc.finish(), compresslevel=6))
    tmp.replace(out)


def _initramfs_key(release: str) -> str:
    h = hashlib.sha256()
    h.update(INIT.encode())
    h.update(repr(INITRAMFS_MODULES).encode())
    st = BUSYBOX.stat()
    h.update(f"{release} {st.st_size} {st.st_mtime_ns}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Kernel:
    release: str
    vmlinuz: Path
    initramfs: Path
    modules: Path  # lib/modules/<release> of the unpacked package
    config_file: Path  # boot/config-<release> of the unpacked package
    config: dict[str, str]


def prepare(release: str) -> Kernel:
    """Fetch, unpack and index ``release`` and build its initramfs, unless cached."""
    kdir = CACHE / release
    root = kdir / "root"
    with cache_lock():
        if not (kdir / "ready").exists():
            t0 = time.monotonic()
            name = f"linux-image-{release}-unsigned"
            shutil.rmtree(kdir, ignore_errors=True)
            kdir.mkdir(parents=True)
            try:
                with tempfile.TemporaryDirectory(dir=CACHE, prefix="download-") as tmp:
                    log(f"downloading {name}")
                    deb = _download(name, Path(tmp))
                    log(f"unpacking {deb.name}")
                    run(["dpkg", "-x", str(deb), str(root)])
                run(["depmod", "-b", str(root), release])
            except BaseException:
                shutil.rmtree(kdir, ignore_errors=True)
                raise
            (kdir / "ready").write_text(json.dumps({"package": name}) + "\n")
            log(f"{release} unpacked and indexed in {time.monotonic() - t0:.1f}s")
        modules = _modules_dir(root, release)
        vmlinuz = root / f"boot/vmlinuz-{release}"
        if not vmlinuz.exists():
            raise RunnerError(f"no boot/vmlinuz-{release} in the package")
        image = kdir / "vmlinux"
        if not image.exists() and _extract_vmlinux(vmlinuz, image):
            log(f"{release}: extracted vmlinux for a PVH boot")
        if image.exists():
            vmlinuz = image
        initramfs = kdir / "initramfs.gz"
        key = _initramfs_key(release)
        key_file = kdir / "initramfs.key"
        if not initramfs.exists() or not key_file.exists() or key_file.read_text() != key:
            t0 = time.monotonic()
            _build_initramfs(root, release, initramfs)
            key_file.write_text(key)
            log(f"initramfs for {release} built in {time.monotonic() - t0:.1f}s")
        config = {}
        config_file = root / f"boot/config-{release}"
        for line in config_file.read_text().splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                k, v = line.split("=", 1)
                config[k] = v.strip('"')
    return Kernel(release, vmlinuz, initramfs, modules, config_file, config)


def _extract_vmlinux(bzimage: Path, out: Path) -> bool:
    """Unpack an xz-compressed bzImage into the ELF vmlinux it carries, if it can be booted
    directly (PVH entry note): under TCG, the kernel's own xz decompression costs seconds per
    boot. Other compressors are fast enough that the bzImage is used as it is."""
    data = bzimage.read_bytes()
    if data[0x202:0x206] != b"HdrS" or int.from_bytes(data[0x206:0x208], "little") < 0x208:
        return False
    start = ((data[0x1F1] or 4) + 1) * 512 + int.from_bytes(data[0x248:0x24C], "little")
    payload = data[start:start + int.from_bytes(data[0x24C:0x250], "little")]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        return False
    try:
        elf = lzma.LZMADecompressor().decompress(payload)
    except lzma.LZMAError:
        return False
    # XEN_ELFNOTE_PHYS32_ENTRY (18) in a "Xen" note: qemu's PVH boot needs it.
    if not elf.startswith(b"\x7fELF") or b"Xen\0" not in elf or not _has_pvh_note(elf):
        return False
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.replace(out)
    return True


def _has_pvh_note(elf: bytes) -> bool:
    phoff = int.from_bytes(elf[0x20:0x28], "little")
    phentsize = int.from_bytes(elf[0x36:0x38], "little")
    for i in range(int.from_bytes(elf[0x38:0x3A], "little")):
        ph = phoff + i * phentsize
        if int.from_bytes(elf[ph:ph + 4], "little") != 4:  # PT_NOTE
            continue
        off = int.from_bytes(elf[ph + 8:ph + 16], "little")
        end = off + int.from_bytes(elf[ph + 32:ph + 40], "little")
        while off + 12 <= end:
            namesz, descsz, kind = (int.from_bytes(elf[off + k:off + k + 4], "little")
                                    for k in (0, 4, 8))
            name = elf[off + 12:off + 12 + namesz]
            if name == b"Xen\0" and kind == 18:
                return True
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def _modules_dir(root: Path, release: str) -> Path:
    for base in ("lib/modules", "usr/lib/modules"):
        p = root / base / release
        if (p / "modules.dep").exists():
            return p
    raise RunnerError(f"no modules.dep for {release} under {root}")


# --- the guest ----------------------------------------------------------------------------------

def resolve_python(python: str) -> str:
    """The real interpreter behind ``python`` (pyenv shims cost seconds per call in the guest)."""
    proc = run([python, "-c", "import sys, pytest; print(sys.executable)"], check=False)
    if proc.returncode != 0:
        raise RunnerError(f"{python} cannot import pytest:\n{proc.stderr.strip()}")
    return proc.stdout.strip()


def cmdline(kernel: Kernel, extra: str, verbose: bool) -> str:
    args = ["console=ttyS0", "panic=-1", "oops=panic", "rdinit=/init", "mitigations=off",
            "8250.nr_uarts=1"]
    if not verbose:
        args += ["quiet", "loglevel=4"]
    lsm = kernel.config.get("CONFIG_LSM", "")
    if "bpf" not in lsm.split(","):
        args.append(f"lsm={lsm + ',' if lsm else ''}bpf")
    if extra:
        args.append(extra)
    return " ".join(args)


def guest_environment(python: str, release: str, extra: list[str], plugins: bool
                      ) -> dict[str, str]:
    path = [str(Path(python).parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
            "/usr/bin", "/sbin", "/bin"]
    env = {
        "HOME": os.environ.get("HOME", "/root"),
        "PATH": ":".join(dict.fromkeys(path)),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "COLUMNS": str(shutil.get_terminal_size((120, 24)).columns),
        "PYTHONUNBUFFERED": "1",
    }
    for k, v in os.environ.items():  # the project's own knobs and pytest's
        if k.startswith(("EBPF_", "PYTEST_")):
            env[k] = v
    if not plugins:
        # Third-party plugins cost the guest seconds per start (pytest-benchmark runs git at
        # start-up); the suite uses none of them.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["EBPF_REQUIRE_KERNEL"] = "1"
    env["EBPF_VM_KERNEL"] = release
    for item in extra:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise RunnerError(f"--env wants NAME=VALUE, not {item!r}")
        env[k] = v
    return env


def make_scratch_disk(path: Path) -> None:
    """A fresh, sparse ext4 image for the guest's /var/tmp (inode tables initialised here, so
    that the guest's kernel does not spend emulated cycles on it)."""
    with open(path, "wb") as f:
        f.truncate(SCRATCH_DISK_MB << 20)
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
         "-E", "lazy_itable_init=0,lazy_journal_init=0", str(path)])


def write_stage2(ctl: Path, kernel: Kernel, env: dict[str, str], command: list[str] | None
                 ) -> None:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"REPO={q(str(REPO))}",
        f"RELEASE={q(kernel.release)}",
        f"MODULES={q(str(kernel.modules))}",
        f"CONFIG={q(str(kernel.config_file))}",
        f"MODE={'shell' if command is None else 'run'}",
        # The guest's processes see this environment and nothing else.
        "guest() { $BB env -i " + " ".join(q(f"{k}={v}") for k, v in env.items()) + ' "$@"; }',
    ]
    if command is not None:
        lines.append("set -- " + shlex.join(command))
    (ctl / "stage2.sh").write_text("\n".join(lines) + "\n" + STAGE2)


#: The firmware's terminal resets and cursor controls (ESC c, ESC [ ... letter).
_ESCAPES = re.compile(rb"\x1bc|\x1b\[[0-9;?]*[A-Za-z]")


class Console(threading.Thread):
    """Copies the guest console to stdout (CRLF to LF) and remembers its last lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.tail: list[str] = []
        self.ready_at: float | None = None
        self._partial = b""

    def run(self) -> None:
        out = sys.stdout.buffer
        carry = b""  # an unfinished CR LF or escape sequence: the serial port sends bytes
        while True:
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                break
            data = carry + chunk
            cut = len(data)
            esc = data.rfind(b"\x1b")
            if esc >= 0 and len(data) - esc < 16 and not _ESCAPES.match(data, esc):
                cut = esc
            if data[:cut].endswith(b"\r"):
                cut -= 1
            data, carry = data[:cut], data[cut:]
            data = _ESCAPES.sub(b"", data.replace(b"\r\n", b"\n"))
            out.write(data)
            out.flush()
            self._remember(data)
        out.write(carry)
        out.flush()

    def _remember(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            if line.startswith(f"{MARK} ready") and self.ready_at is None:
                self.ready_at = time.monotonic()
            self.tail.append(line)
        del self.tail[:-40]


@dataclass
class Outcome:
    release: str
    status: int
    seconds: float
    reason: str = ""


def _opt(path: Path | str) -> str:
    """``path`` as a qemu option value (a comma is written twice)."""
    return str(path).replace(",", ",,")


def boot(kernel: Kernel, args: argparse.Namespace, python: str, command: list[str] | None
         ) -> Outcome:
    env = guest_environment(python, kernel.release, args.env, args.plugins)
    with tempfile.TemporaryDirectory(prefix="ebpf-vm-") as tmp:
        ctl = Path(tmp)
        write_stage2(ctl, kernel, env, command)
        disk = ctl / "scratch.img"
        make_scratch_disk(disk)

        def share(tag: str, path: Path | str, *extra: str) -> list[str]:
            opts = [f"local,path={_opt(path)},mount_tag={tag},security_model=none", *extra]
            return ["-virtfs", ",".join(opts)]

        qemu = [
            "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max",
            "-smp", str(args.smp), "-m", args.memory,
            # Like -nographic, without SeaBIOS's banner and the monitor on the console
            # (an interactive shell keeps them: Ctrl-A X quits).
            *(["-nographic"] if command is None else
              ["-display", "none", "-vga", "none", "-serial", "stdio", "-monitor", "none"]),
            "-no-reboot", "-nic", "none",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(kernel.initramfs),
            "-append", cmdline(kernel, args.append, args.verbose),
            *share("hostroot", "/", "readonly=on", "multidevs=remap"),
            *share("repo", REPO, "multidevs=remap"),
            *share("ctl", ctl),
            "-drive", f"file={_opt(disk)},if=virtio,format=raw,cache=unsafe",
        ]
        if args.verbose:
            log(shlex.join(qemu))
        t0 = time.monotonic()
        if command is None:  # interactive: the terminal belongs to qemu
            proc = subprocess.run(qemu, check=False)
            return _outcome(kernel, ctl, proc.returncode, time.monotonic() - t0, None)
        proc2 = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        assert proc2.stdout is not None
        console = Console(proc2.stdout)
        console.start()
        try:
            rc = proc2.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc2.kill()
            proc2.wait()
            console.join(5)
            return Outcome(kernel.release, EXIT_TIMEOUT, time.monotonic() - t0,
                           f"timed out after {args.timeout:.0f}s (--timeout)")
        console.join(5)
        elapsed = time.monotonic() - t0
        if console.ready_at is not None:
            log(f"{kernel.release}: guest ready {console.ready_at - t0:.1f}s after start")
        return _outcome(kernel, ctl, rc, elapsed, console)


def _outcome(kernel: Kernel, ctl: Path, qemu_rc: int, elapsed: float,
             console: Console | None) -> Outcome:
    status_file = ctl / "status"
    if status_file.exists():
        text = status_file.read_text().strip()
        if text.isdigit():
            return Outcome(kernel.release, int(text), elapsed)
    fatal = [ln for ln in (console.tail if console else []) if ln.startswith(f"{MARK} FATAL")]
    if fatal:
        reason = fatal[-1][len(MARK):].strip()
    elif console and any("Kernel panic" in ln for ln in console.tail):
        reason = "the guest kernel panicked (see the console above)"
    else:
        reason = (f"the guest stopped without reporting a status (qemu exited with {qemu_rc}); "
                  "see the console above")
    return Outcome(kernel.release, EXIT_RUNNER, elapsed, reason)


# --- command line -------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    else:
        rest = []
    p = argparse.ArgumentParser(
        prog="vm.py", description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Arguments after -- go to pytest.")
    p.add_argument("--kernel", default="all",
                   help="6.1, 6.12, all (both, one after the other) or an exact release such as "
                        "6.1.0-57-amd64 (default: all)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one guest may run, boot included (default: 600)")
    p.add_argument("--shell", action="store_true", help="an interactive shell instead of pytest")
    p.add_argument("--cmd", help="a shell command to run in the repository instead of pytest")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter to run pytest with (default: this one)")
    p.add_argument("--memory", default="2G", help="guest memory (default: 2G)")
    p.add_argument("--smp", type=int, default=2, help="guest CPUs (default: 2)")
    p.add_argument("--append", default="", help="extra kernel command line")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set an environment variable in the guest (repeatable)")
    p.add_argument("--plugins", action="store_true",
                   help="let pytest load installed third-party plugins (off by default: slow)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="show the kernel's boot messages and the qemu command")
    p.add_argument("--prepare-only", action="store_true",
                   help="fetch and build what the kernels need, then exit")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        p.error(f"unrecognized arguments: {' '.join(unknown)} (pytest's arguments go after --)")
    if args.shell and (rest or args.cmd):
        p.error("--shell takes no pytest arguments or --cmd")
    return args, rest


def prune(keep: list[str]) -> None:
    """Remove cached releases of the series in ``keep`` that a newer package replaced."""
    for release in keep:
        for s, pattern in SERIES.items():
            if not pattern.match(f"linux-image-{release}-unsigned"):
                continue
            for old in _cached_releases(s):
                if old not in keep and _version_key(old) < _version_key(release):
                    log(f"removing {old} from the cache (replaced by {release})")
                    shutil.rmtree(CACHE / old, ignore_errors=True)


def kernels_wanted(spec: str) -> list[str]:
    """Releases for ``--kernel``."""
    if spec == "all":
        series = list(SERIES)
    elif spec in SERIES:
        series = [spec]
    else:
        if any(p.match(f"linux-image-{spec}-unsigned") for p in SERIES.values()):
            return [spec]
        raise RunnerError(f"--kernel {spec!r}: want {', '.join(SERIES)}, all, or a release "
                          "such as 6.1.0-57-amd64")
    releases = resolve(series)
    return [releases[s] for s in series]


def main(argv: list[str]) -> int:
    args, rest = parse_args(argv)
    t0 = time.monotonic()
    try:
        ensure_host_tools()
        releases = kernels_wanted(args.kernel)
        kernels = []
        for i, release in enumerate(releases):
            try:
                kernels.append(prepare(release))
            except RunnerError:
                # A stale package list names a package the archive no longer has; the download
                # refreshed the lists, which may now name a newer one of the same series.
                if args.kernel not in ("all", *SERIES):
                    raise
                retry = kernels_wanted(args.kernel)[i]
                if retry == release:
                    raise
                log(f"trying {retry} instead of {release}")
                releases[i] = retry
                kernels.append(prepare(retry))
        with cache_lock():
            prune(releases)
        python = resolve_python(args.python)
    except RunnerError as e:
        log(f"error: {e}")
        return EXIT_RUNNER
    log(f"kernels ready in {time.monotonic() - t0:.1f}s: {', '.join(k.release for k in kernels)}")
    if args.prepare_only:
        return 0
    command: list[str] | None
    if args.shell:
        command = None
    elif args.cmd is not None:
        command = ["/bin/sh", "-c", args.cmd]
    else:
        # With third-party plugins off, the project's own plugin (its pytest11 entry point) is
        # named explicitly: the suite's markers and fixtures come from it.
        own = [] if args.plugins else ["-p", "ebpf.testing.plugin"]
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", *own, *rest]
    outcomes = []
    for kernel in kernels:
        log(f"{kernel.release}: booting")
        try:
            outcome = boot(kernel, args, python, command)
        except RunnerError as e:
            outcome = Outcome(kernel.release, EXIT_RUNNER, 0.0, str(e))
        outcomes.append(outcome)
        what = f"status {outcome.status}" + (f": {outcome.reason}" if outcome.reason else "")
        log(f"{kernel.release}: {what} ({outcome.seconds:.1f}s)")
    if len(outcomes) > 1:
        for o in outcomes:
            log(f"  {o.release:28} status {o.status:3}  {o.seconds:6.1f}s  {o.reason}")
    for o in outcomes:
        if o.status != 0:
            return o.status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
