#!/usr/bin/env bash
# The project's one test command: dependencies, lint, types, generated-code drift, then pytest.
#
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh tests/unit -x   # extra arguments go to pytest
#
# Every step runs even when an earlier one failed, so one run shows all problems. The exit
# status is pytest's when pytest failed (5 means it collected no tests), otherwise 1 when any
# other step failed, otherwise 0. Set EBPF_REQUIRE_KERNEL=1 to turn "no kernel access" skips
# into failures, as CI does.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
export PYTHON

bash scripts/install-deps.sh || {
    echo "test.sh: installing dependencies failed" >&2
    exit 1
}

failed=()

step() {
    local name=$1
    shift
    echo "==> $name"
    if ! "$@"; then
        echo "test.sh: step failed: $name" >&2
        failed+=("$name")
    fi
}

step "ruff check ebpf tests" "$PYTHON" -m ruff check --no-cache -q ebpf tests
step "mypy --strict ebpf" "$PYTHON" -m mypy --strict --no-incremental --cache-dir=/dev/null ebpf
if [[ -f tools/gen_helpers.py ]]; then
    step "gen_helpers --check" "$PYTHON" tools/gen_helpers.py --check
fi

echo "==> pytest"
"$PYTHON" -m pytest -ra "$@"
pytest_rc=$?

if ((${#failed[@]})); then
    echo "test.sh: failed steps: ${failed[*]}" >&2
fi
if ((pytest_rc != 0)); then
    echo "test.sh: pytest exited with status $pytest_rc" >&2
    exit "$pytest_rc"
fi
((${#failed[@]} == 0)) || exit 1
exit 0
