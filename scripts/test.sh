#!/usr/bin/env bash
# `make test`: everything the suite needs, then pytest. Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test
cd "$ROOT"

ensure_venv
ensure_services

ensure_chromium

# The layer contract (.importlinter) first: a backwards import fails the run.
log "import contracts (lint-imports)"
"$VENV/bin/lint-imports" --no-cache

# Paths given: only those; none: the whole suite.
targets=(tests)
for arg in "$@"; do
    case "$arg" in tests|tests/*) targets=() ;; esac
done
set +e
"$PY" -m pytest -q "${targets[@]}" "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    log "pytest collected no tests (exit 5): not a failure"
    rc=0
fi
exit "$rc"
