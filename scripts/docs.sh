#!/usr/bin/env bash
# Build the documentation site (docs/) as HTML; any Sphinx warning fails the build.
#
#   bash scripts/docs.sh             # into .cache/docs (open .cache/docs/index.html)
#   bash scripts/docs.sh OUTDIR      # somewhere else
#
# -E re-reads every page on every run: an incremental build would not repeat the warnings of
# pages it did not re-read, and a second run would pass where the first failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
out=${1:-.cache/docs}

if ! "$PYTHON" -c "import sphinx" 2>/dev/null; then
    echo "docs.sh: Sphinx is not installed (python3 -m pip install -e '.[docs]')" >&2
    exit 1
fi
exec "$PYTHON" -m sphinx -W --keep-going -E -q -b html docs "$out"
