#!/usr/bin/env bash
# Install what the tests, the testdata rebuild and the benchmarks need, if it is missing.
#
# Idempotent: a second run on a prepared machine changes nothing and prints nothing but the
# final line. System packages come from apt (Debian 12 names) and are only installed when one of
# the tools is absent; the Python side is an editable install of this repo with its dev extras.
#
# Environment:
#   EBPF_SKIP_APT=1   never call apt-get (e.g. on a machine you do not administer)
#   PYTHON=...        the interpreter to install into (default: python3)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}

die() {
    echo "install-deps: error: $*" >&2
    exit 1
}

# --- system packages -------------------------------------------------------------------------
# golang-go builds the Go binaries whose .gopclntab the uprobe symbol tests read;
# systemtap-sdt-dev gives <sys/sdt.h> for the USDT targets of the tests and examples.
APT_PACKAGES=(clang-19 llvm-19 bpftool libbpf-dev linux-libc-dev make gcc golang-go
    systemtap-sdt-dev)

missing=()
for tool in clang-19 llvm-objdump-19 bpftool make gcc go; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -e /usr/include/bpf/bpf_helpers.h ]] || missing+=("libbpf-dev headers")
[[ -e /usr/include/linux/bpf.h ]] || missing+=("linux-libc-dev headers")
[[ -e /usr/include/x86_64-linux-gnu/sys/sdt.h || -e /usr/include/sys/sdt.h ]] ||
    compgen -G '/usr/include/*/sys/sdt.h' >/dev/null || missing+=("systemtap-sdt-dev headers")

if ((${#missing[@]})); then
    if [[ ${EBPF_SKIP_APT:-0} == 1 ]]; then
        echo "install-deps: EBPF_SKIP_APT=1, not installing: ${missing[*]}" >&2
    elif [[ $(id -u) != 0 ]]; then
        # Not fatal: the committed test objects need no compiler, and the tests that need
        # bpftool say so when they skip.
        echo "install-deps: warning: missing ${missing[*]}; as root, this script would" \
            "install: ${APT_PACKAGES[*]}" >&2
    else
        command -v apt-get >/dev/null 2>&1 ||
            die "missing ${missing[*]} and there is no apt-get; install: ${APT_PACKAGES[*]}"
        echo "install-deps: installing system packages (missing: ${missing[*]})"
        log=$(mktemp)
        trap 'rm -f "$log"' EXIT
        if ! apt-get update -q >"$log" 2>&1; then
            cat "$log" >&2
            die "apt-get update failed"
        fi
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                "${APT_PACKAGES[@]}" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            die "apt-get install ${APT_PACKAGES[*]} failed (last lines above)"
        fi
    fi
fi

# --- Python packages -------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON on PATH"
[[ $PYTHON == */* && $PYTHON != /* ]] && PYTHON=$PWD/$PYTHON
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$PYTHON is $("$PYTHON" -V 2>&1); the library needs Python >= 3.10"

# Reinstall only when something is missing, so repeated runs stay fast and offline-friendly.
# The check runs from / so that the checkout itself is not on the path: `ebpf` must be importable
# because it is installed, and installed from this checkout.
repo=$(pwd -P)
if ! (cd / && EBPF_REPO="$repo" "$PYTHON" - <<'PY' >/dev/null 2>&1
import importlib.util, os, pathlib, sys
import ebpf
here = (pathlib.Path(os.environ["EBPF_REPO"]) / "ebpf").resolve()
if not any(pathlib.Path(p).resolve() == here for p in ebpf.__path__):
    sys.exit(1)
for mod in ("pytest", "mypy", "ruff", "typing_extensions", "numpy", "elftools", "hypothesis",
            "sphinx"):
    if importlib.util.find_spec(mod) is None:
        sys.exit(1)
PY
)
then
    echo "install-deps: installing Python packages (pip install -e '.[dev]')"
    log=$(mktemp)
    if ! "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[dev]' >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        if grep -q externally-managed-environment "$log"; then
            rm -f "$log"
            die "$PYTHON is managed by the system package manager; create and activate a" \
                "virtual environment (python3 -m venv .venv && . .venv/bin/activate) first"
        fi
        rm -f "$log"
        die "pip install -e '.[dev]' failed (last lines above)"
    fi
    rm -f "$log"
fi

echo "install-deps: ok"
