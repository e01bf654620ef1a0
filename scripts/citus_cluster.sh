#!/usr/bin/env bash
# A Citus cluster on loopback: a coordinator and two workers, each its own
# PostgreSQL 15 instance with its data directory outside the clone.
#   citus_cluster.sh start        build/install Citus if needed, start all three nodes
#   citus_cluster.sh stop         stop them
#   citus_cluster.sh status
#   citus_cluster.sh db NAME      (re)create database NAME on every node with the
#                                 extension and the workers registered
#   citus_cluster.sh ensure-db NAME   the same, only when NAME does not exist yet
# Ports: ZENTRA_CITUS_PORT (coordinator, default 9700), the next two for the workers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=citus

PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
DATA="${ZENTRA_CITUS_DATA:-/var/lib/zentra/citus}"
PORT="${ZENTRA_CITUS_PORT:-9700}"
PORTS=("$PORT" "$((PORT + 1))" "$((PORT + 2))")
PGUSER_OS="${ZENTRA_CITUS_OS_USER:-postgres}"

as_pg() {
    if [ "$(id -un)" = "$PGUSER_OS" ]; then "$@"; else runuser -u "$PGUSER_OS" -- "$@"; fi
}

psql_at() {  # port db sql...
    local port="$1" db="$2"; shift 2
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

node_init() {
    local port="$1" dir="$DATA/$1"
    [ -f "$dir/PG_VERSION" ] && return 0
    mkdir -p "$dir"
    chown -R "$PGUSER_OS" "$DATA"
    as_pg "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$dir/postgresql.conf" <<CONF
# zentra citus node
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
max_connections = 300
max_prepared_transactions = 300
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
# Zentra's ledger tables carry triggers: on a distributed table Citus runs them
# on the worker that holds the shard (docs/architecture.md, "Scaling past one machine").
citus.enable_unsafe_triggers = on
citus.log_remote_commands = off
CONF
}

start() {
    bash "$ROOT/scripts/citus_build.sh"
    for p in "${PORTS[@]}"; do
        node_init "$p"
        if ! as_pg "$PGBIN/pg_ctl" -D "$DATA/$p" status >/dev/null 2>&1; then
            as_pg "$PGBIN/pg_ctl" -D "$DATA/$p" -l "$DATA/$p.log" -w -t 60 start >/dev/null
            log "node on port $p started ($DATA/$p)"
        else
            log "node on port $p already running"
        fi
    done
}

stop() {
    for p in "${PORTS[@]}"; do
        if [ -f "$DATA/$p/postmaster.pid" ]; then
            as_pg "$PGBIN/pg_ctl" -D "$DATA/$p" -m fast -w stop >/dev/null && log "node on port $p stopped"
        fi
    done
}

status() {
    for p in "${PORTS[@]}"; do
        if as_pg "$PGBIN/pg_ctl" -D "$DATA/$p" status >/dev/null 2>&1; then echo "$p up"; else echo "$p down"; fi
    done
}

db() {
    local name="$1"
    for p in "${PORTS[@]}"; do
        psql_at "$p" postgres -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\""
        psql_at "$p" "$name" -c "CREATE EXTENSION citus"
    done
    psql_at "${PORTS[0]}" "$name" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${PORTS[0]})" \
        -c "SELECT citus_add_node('127.0.0.1', ${PORTS[1]})" -c "SELECT citus_add_node('127.0.0.1', ${PORTS[2]})" >/dev/null
    log "database $name on ${PORTS[*]} (coordinator ${PORTS[0]})"
}

ensure_db() {
    local name="$1"
    if [ "$(psql_at "${PORTS[0]}" postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$name'")" = 0 ]; then
        db "$name"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    db) db "${2:?database name}" ;;
    ensure-db) ensure_db "${2:?database name}" ;;
    *) echo "usage: $0 start|stop|status|db NAME|ensure-db NAME" >&2; exit 2 ;;
esac
