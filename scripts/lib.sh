# Shared helpers for scripts/*.sh (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ZENTRA_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '[%s] %s\n' "${LOG_TAG:-zentra}" "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    # One `apt-get update` per script run, then install whatever is missing.
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available: install $* by hand"
        return 1
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null
}

ensure_venv() {
    # A venv per checkout; requirements are reinstalled only when
    # requirements.txt changed since the last successful install.
    if [ ! -x "$PY" ]; then
        local base
        base="$(command -v python3 || true)"
        if [ -z "$base" ]; then
            apt_install python3 python3-venv python3-pip
            base="$(command -v python3)"
        fi
        if ! "$base" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            apt_install python3-venv
        fi
        log "creating virtualenv $VENV ($("$base" --version 2>&1))"
        "$base" -m venv "$VENV"
    fi
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing requirements.txt into $VENV"
        "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" </dev/null
        echo "$want" > "$stamp"
    else
        log "requirements unchanged since last install"
    fi
}

ensure_services() {
    PYTHON="$PY" "$ROOT/scripts/ensure_services.sh"
}

ensure_chromium() {
    # The console's browser tests drive Debian's Chromium. Best effort: without it
    # those tests skip with a reason, the rest of the suite still runs.
    if [ ! -x /usr/bin/chromium ]; then
        apt_install chromium || log "could not install chromium; browser tests will be skipped"
    else
        log "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    fi
}
