#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer, and that the database exists.
#
# Idempotent: services that already answer are used as they are. A service
# named by DATABASE_URL / REDIS_URL on this machine (127.0.0.1, localhost, ::1)
# that does not answer is installed from Debian packages if missing and
# started; a remote one that does not answer is an error (we never start
# somebody else's server). Without the variables, the local defaults below are
# used. PYTHON may point at an interpreter with psycopg (the project venv);
# otherwise psql creates the database.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=services

DEFAULT_DATABASE_URL="postgres://postgres@127.0.0.1:5432/zentra"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379/0"
if [ -n "${DATABASE_URL:-}" ]; then db_src="DATABASE_URL"; else db_src="default"; fi
if [ -n "${REDIS_URL:-}" ]; then redis_src="REDIS_URL"; else redis_src="default"; fi
DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
REDIS_URL="${REDIS_URL:-$DEFAULT_REDIS_URL}"

# scheme://[user[:password]@]host[:port][/path][?query]
URL_RE='^[A-Za-z0-9+.-]+://(([^:@/]*)(:([^@/]*))?@)?(\[[^]]*\]|[^:/?]*)(:([0-9]+))?(/([^?]*))?'
parse_url() {  # url default_port -> sets U_USER U_HOST U_PORT U_PATH
    local url="$1"
    if [[ ! "$url" =~ $URL_RE ]]; then
        log "cannot parse URL: $url"
        exit 2
    fi
    U_USER="${BASH_REMATCH[2]}"
    U_HOST="${BASH_REMATCH[5]:-127.0.0.1}"
    U_HOST="${U_HOST#[}"; U_HOST="${U_HOST%]}"
    U_PORT="${BASH_REMATCH[7]:-$2}"
    U_PATH="${BASH_REMATCH[9]}"
}

is_local() {
    case "$1" in 127.0.0.1|localhost|::1|"") return 0 ;; *) return 1 ;; esac
}

tcp_open() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

pg_answers() {  # host port
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$1" -p "$2" -t 2
    else
        tcp_open "$1" "$2"
    fi
}

redis_answers() {  # host port
    if command -v redis-cli >/dev/null 2>&1; then
        # NOAUTH still means "a Redis is listening"; the app brings the password.
        local reply
        reply="$(redis-cli -h "$1" -p "$2" ping 2>/dev/null || true)"
        [[ "$reply" == PONG || "$reply" == NOAUTH* ]]
    else
        tcp_open "$1" "$2"
    fi
}

wait_for() {  # what check host port
    local i
    for i in $(seq 1 60); do
        if "$2" "$3" "$4"; then return 0; fi
        sleep 0.5
    done
    log "$1 did not come up on $3:$4"
    return 1
}

# --- PostgreSQL -------------------------------------------------------------
start_postgres() {  # port
    local port="$1" ver hba marker="# zentra: local trust for postgres"
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt_install postgresql
    fi
    ver="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$ver" ] || [ ! -d "/etc/postgresql/$ver/main" ]; then
        ver="$(ls /usr/lib/postgresql | sort -V | tail -1)"
        log "creating PostgreSQL $ver cluster 'main'"
        as_root pg_createcluster "$ver" main >/dev/null
    fi
    if [ "$(as_root pg_conftool -s "$ver" main show port 2>/dev/null || echo 5432)" != "$port" ]; then
        log "setting PostgreSQL $ver/main port to $port"
        as_root pg_conftool "$ver" main set port "$port"
    fi
    hba="/etc/postgresql/$ver/main/pg_hba.conf"
    # The first matching pg_hba line wins, so ours goes on top.
    if ! as_root grep -qF "$marker" "$hba"; then
        log "allowing user postgres from 127.0.0.1 without a password ($hba)"
        as_root sed -i "1i $marker\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\nlocal all postgres trust" "$hba"
    fi
    # pg_ctlcluster starts the server as the cluster owner (postgres): the
    # server itself refuses to run as root.
    if as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main status >/dev/null 2>&1; then
        log "PostgreSQL $ver/main is running; reloading its configuration"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
    else
        log "starting PostgreSQL $ver/main on port $port"
        as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    fi
}

create_database() {  # url name
    local url="$1" name="$2"
    if [ -n "${PYTHON:-}" ] && "$PYTHON" -c 'import psycopg' >/dev/null 2>&1; then
        "$PYTHON" - "$url" "$name" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql

url, name = sys.argv[1], sys.argv[2]
parts = urlsplit(url)
admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        print(f"[services] database {name} exists")
    else:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"[services] created database {name}")
        except errors.DuplicateDatabase:
            print(f"[services] database {name} exists")
PY
        return
    fi
    if ! command -v psql >/dev/null 2>&1; then
        apt_install postgresql-client
    fi
    local admin="${url%%\?*}"
    admin="${admin%/*}/postgres"
    if [ "$(psql "$admin" -XtAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" = 1 ]; then
        log "database $name exists"
    else
        psql "$admin" -Xqc "CREATE DATABASE \"$name\"" && log "created database $name"
    fi
}

parse_url "$DATABASE_URL" 5432
PG_HOST="$U_HOST"; PG_PORT="$U_PORT"; PG_DB="${U_PATH:-zentra}"
if pg_answers "$PG_HOST" "$PG_PORT"; then
    log "PostgreSQL answers on $PG_HOST:$PG_PORT ($db_src)"
elif is_local "$PG_HOST"; then
    log "PostgreSQL does not answer on $PG_HOST:$PG_PORT ($db_src); starting a local one"
    start_postgres "$PG_PORT"
    wait_for PostgreSQL pg_answers 127.0.0.1 "$PG_PORT"
    log "PostgreSQL answers on 127.0.0.1:$PG_PORT"
else
    log "PostgreSQL at $PG_HOST:$PG_PORT ($db_src) does not answer, and it is not on this machine"
    exit 1
fi
create_database "$DATABASE_URL" "$PG_DB"

# --- Redis --------------------------------------------------------------------
parse_url "$REDIS_URL" 6379
RD_HOST="$U_HOST"; RD_PORT="$U_PORT"
if redis_answers "$RD_HOST" "$RD_PORT"; then
    log "Redis answers on $RD_HOST:$RD_PORT ($redis_src)"
elif is_local "$RD_HOST"; then
    log "Redis does not answer on $RD_HOST:$RD_PORT ($redis_src); starting a local one"
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # Nothing on disk: Redis is a broker and cache here, Postgres holds the truth.
    redis-server --daemonize yes --bind 127.0.0.1 --port "$RD_PORT" --save "" --appendonly no \
        --dir /tmp --logfile /tmp/zentra-redis-"$RD_PORT".log
    wait_for Redis redis_answers 127.0.0.1 "$RD_PORT"
    log "Redis answers on 127.0.0.1:$RD_PORT"
else
    log "Redis at $RD_HOST:$RD_PORT ($redis_src) does not answer, and it is not on this machine"
    exit 1
fi
