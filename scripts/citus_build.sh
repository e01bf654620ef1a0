#!/usr/bin/env bash
# Installs the Citus extension into the local PostgreSQL 15 when it is not there.
# The compiled result is kept in $ZENTRA_CITUS_CACHE (outside the clone), keyed by
# the source archive and patch checksums, so a second run (or a second CI run on
# the same machine) only copies files: a build takes minutes on two cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=citus-build

VENDOR="${ZENTRA_CITUS_VENDOR:-$ROOT/../shared/vendor/citus}"
CACHE="${ZENTRA_CITUS_CACHE:-/var/cache/zentra/citus}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
TARBALL="$VENDOR/citus-13.2.2.tar.gz"
PATCH="$VENDOR/pg15.20-compat.patch"

pkglibdir() { "$PG_CONFIG" --pkglibdir; }
sharedir() { "$PG_CONFIG" --sharedir; }

if [ -f "$(pkglibdir 2>/dev/null)/citus.so" ] && [ -f "$(sharedir)/extension/citus.control" ]; then
    log "citus already installed in $(pkglibdir)"
    exit 0
fi

if [ ! -x "$PG_CONFIG" ]; then
    apt_install postgresql-server-dev-15
fi

key="$(cat "$TARBALL" "$PATCH" | sha256sum | cut -c1-16)"
dest="$CACHE/$key/root"
if [ ! -f "$dest/.complete" ]; then
    need=()
    for p in postgresql-server-dev-15 build-essential libcurl4-openssl-dev liblz4-dev \
             libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev \
             libreadline-dev zlib1g-dev; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi
    work="$CACHE/$key/src"
    rm -rf "$work" "$dest"
    mkdir -p "$work"
    log "building Citus from $TARBALL into $dest (a few minutes)"
    tar -xzf "$TARBALL" -C "$work"
    (
        cd "$work/citus-13.2.2"
        patch -p0 -s < "$PATCH"
        ./configure PG_CONFIG="$PG_CONFIG" >"$work/configure.log" 2>&1
        make -j"$(nproc)" >"$work/make.log" 2>&1
        make install DESTDIR="$dest" >"$work/install.log" 2>&1
    ) || { log "build failed; logs in $work"; exit 1; }
    touch "$dest/.complete"
    rm -rf "$work/citus-13.2.2"
fi
log "installing cached Citus build from $dest"
as_root cp -a "$dest/usr" /
log "citus installed in $(pkglibdir)"
