#!/usr/bin/env bash
# `make test`: everything the suite needs, then pytest. Extra arguments go to pytest.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test
cd "$ROOT"

ensure_venv
ensure_services

# The console's browser tests drive Debian's Chromium. Best effort: without it
# those tests skip with a reason, the rest of the suite still runs.
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium || log "could not install chromium; browser tests will be skipped"
else
    log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
fi

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
