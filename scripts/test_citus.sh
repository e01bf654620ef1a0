#!/usr/bin/env bash
# `make test-citus`: the suite (or the tests given as arguments) against a Citus
# cluster on loopback: scripts/citus_cluster.sh builds Citus if needed, starts a
# coordinator and two workers, and makes the test database fresh on all three.
# Its own Redis database (ZENTRA_CITUS_REDIS_URL) so it can run beside `make test`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test-citus
cd "$ROOT"

ensure_venv
REDIS_URL="${ZENTRA_CITUS_REDIS_URL:-redis://127.0.0.1:6379/14}" DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres" \
    ensure_services
PORT="${ZENTRA_CITUS_PORT:-9700}"
NAME="${ZENTRA_CITUS_DB:-zentra_citus}"
bash "$ROOT/scripts/citus_cluster.sh" start
# Django's test runner keeps (keepdb) the database made here: it must carry the
# extension and the node registrations, which CREATE DATABASE alone does not.
bash "$ROOT/scripts/citus_cluster.sh" db "test_$NAME"
export ZENTRA_CITUS=1
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/$NAME"
export ZENTRA_TEST_REDIS_URL="${ZENTRA_CITUS_REDIS_URL:-redis://127.0.0.1:6379/14}"
set +e
if [ "$#" -gt 0 ]; then
    "$PY" -m pytest -q -p no:cacheprovider "$@"
else
    "$PY" -m pytest -q -p no:cacheprovider tests
fi
rc=$?
set -e
[ "$rc" = 5 ] && rc=0
exit "$rc"
