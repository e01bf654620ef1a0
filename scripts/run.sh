#!/usr/bin/env bash
# `make run`: install what is missing, migrate, seed the demo tenant, then run
# web (gunicorn), the Celery worker and Celery beat in the foreground.
# Ctrl-C (or SIGTERM) stops all three.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=run
cd "$ROOT"

PORT="${PORT:-8000}"
WEB_WORKERS="${WEB_WORKERS:-2}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-zentra_site.settings}"

ensure_venv
ensure_services

manage() { "$PY" manage.py "$@"; }
# Database roles (docs/operations.md): DATABASE_URL is the administrator's
# connection; it creates zentra_owner / zentra_app, migrations run as the
# owner, and web, worker and beat connect as zentra_app, which owns nothing.
# ZENTRA_DB_ROLES=0 runs everything as DATABASE_URL's user instead.
if [ "${ZENTRA_DB_ROLES:-1}" = 1 ]; then
    export ZENTRA_DB_APP_PASSWORD="${ZENTRA_DB_APP_PASSWORD:-zentra_app}"
    log "database roles: $(manage db_roles)"
    as_owner() { ZENTRA_DB_SET_ROLE=zentra_owner "$@"; }
else
    as_owner() { "$@"; }
fi
log "migrating the public schema"
as_owner manage migrate_schemas --shared --noinput -v 0
log "migrating existing tenant schemas"
as_owner manage migrate_schemas --tenant --noinput -v 0
log "template schema: $(as_owner manage tenant_template)"
if [ "${ZENTRA_DB_ROLES:-1}" = 1 ]; then
    # Tables the migrations just added get their class's grants.
    manage db_roles >/dev/null
    ADMIN_DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/zentra}"
    DATABASE_URL="$("$PY" - "$ADMIN_DATABASE_URL" <<'PY'
import sys
from urllib.parse import quote, urlsplit, urlunsplit
import os

parts = urlsplit(sys.argv[1])
host = parts.hostname or "127.0.0.1"
host = f"[{host}]" if ":" in host else host
netloc = f"zentra_app:{quote(os.environ['ZENTRA_DB_APP_PASSWORD'], safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
print(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
PY
)"
    export DATABASE_URL ZENTRA_DB_OWNER_ROLE=zentra_owner
    log "web, worker and beat connect as zentra_app (not the owner of any table)"
fi
manage collectstatic --noinput -v 0
log "seeding the demo tenant"
DEMO_JSON="$(manage zentra_demo --json --port "$PORT")"

"$PY" - "$DEMO_JSON" "$PORT" <<'PY'
import json
import sys

demo, port = json.loads(sys.argv[1]), sys.argv[2]
key = demo["api_key"]
api = f"http://127.0.0.1:{port}"
body = json.dumps({
    "debit": "customer_balance", "credit": "reserved_balance", "amount_minor": 125000,
    "currency": "USD", "idempotency_key": "led_8173",
})
users = "\n".join(f"{'':14}{u['username']:<12}{u['password']:<25}{u['role']}" for u in demo["users"])
print(f"""
==============================================================================
 Zentra is starting (web :{port}, Celery worker, Celery beat). Ctrl-C stops all.

 Console      {demo['console_url']}
 Log in as    username    password                 role
{users}
 Demo API key {key}
 API docs     {demo['api_docs']}   (schema: {api}/v1/schema)
 Health       {api}/healthz

 Try it:
   curl -s {api}/v1/tenant -H 'Authorization: Bearer {key}'

   curl -s -X POST {api}/v1/ledger-entries \\
     -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\
     -d '{body}'
==============================================================================
""", flush=True)
PY

mkdir -p .run
PIDS=()
start() {  # name command...
    local name="$1"
    shift
    # Each process leads its own process group, so stopping it also stops its
    # children (gunicorn workers, the Celery pool).
    setsid "$@" &
    PIDS+=("$!")
    log "started $name (pid $!)"
}

STOPPED=0
stop_all() {
    [ "$STOPPED" = 1 ] && return
    STOPPED=1
    log "stopping web, worker and beat"
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    # Whatever has not stopped gracefully within 20 s is killed.
    (
        for _ in $(seq 100); do sleep 0.2; done
        for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    ) &
    local watchdog=$!
    wait "${PIDS[@]}" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    log "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

start web "$VENV/bin/gunicorn" zentra_site.wsgi:application --bind "0.0.0.0:$PORT" \
    --workers "$WEB_WORKERS" --access-logfile - --graceful-timeout 10 --no-control-socket
start worker "$VENV/bin/celery" -A zentra_site worker -l INFO -c 2 --without-gossip -n "zentra-run-$PORT@%h"
start beat "$VENV/bin/celery" -A zentra_site beat -l INFO -s .run/celerybeat-schedule

# Any of the three exiting takes the others down: a half-running stack is
# worse than a clearly stopped one.
set +e
wait -n "${PIDS[@]}"
rc=$?
set -e
log "a process exited (status $rc); stopping the others"
exit "$rc"
