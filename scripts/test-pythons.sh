#!/usr/bin/env bash
# The unit tests under every supported Python but the main one (which runs the whole suite).
#
#   bash scripts/test-pythons.sh              # 3.10, 3.12, 3.13
#   bash scripts/test-pythons.sh 3.12 -x      # one version; extra arguments go to pytest
#
# Each version gets a virtual environment under .cache/py/<version> (git-ignored) with this
# checkout installed editable and its dev extras (the tests of the code generator run mypy and
# ruff on its output), made once and reused. The documentation build (tests/unit/test_docs.py)
# runs once, under the main Python. An interpreter is
# looked up as pythonX.Y on PATH, then in pyenv's versions; a supported version that cannot be
# found is a failure, not a skip. The exit status is 0 only if every version passed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

versions=()
while (($#)) && [[ $1 =~ ^3\.[0-9]+$ ]]; do
    versions+=("$1")
    shift
done
((${#versions[@]})) || versions=(3.10 3.12 3.13)

find_python() {
    local v=$1 p
    p=$(command -v "python$v" 2>/dev/null) && [[ $p != */shims/* ]] && { echo "$p"; return; }
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
        [[ -x $p ]] && { echo "$p"; return; }
    done
    return 1
}

failed=()
for v in "${versions[@]}"; do
    echo "==> Python $v: unit tests"
    if ! py=$(find_python "$v"); then
        echo "test-pythons: no Python $v (looked for python$v and pyenv's versions)" >&2
        failed+=("$v (missing)")
        continue
    fi
    venv=.cache/py/$v
    if [[ ! -x $venv/bin/python ]] ||
        ! "$venv/bin/python" -c 'import ebpf, pytest, mypy, hypothesis, elftools' 2>/dev/null
    then
        rm -rf "$venv"
        "$py" -m venv "$venv" || { failed+=("$v (venv)"); continue; }
        log=$(mktemp)
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]' \
                >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            failed+=("$v (install)")
            continue
        fi
        rm -f "$log"
    fi
    "$venv/bin/python" -V
    if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/unit/test_docs.py \
            tests/unit "$@"; then
        failed+=("$v")
    fi
done

if ((${#failed[@]})); then
    echo "test-pythons: failed: ${failed[*]}" >&2
    exit 1
fi
echo "test-pythons: ok (${versions[*]})"
