#!/usr/bin/env bash
# `make bench`: the bench/ scripts, which print figures (they are not tests).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench
cd "$ROOT"

ensure_venv
ensure_services
"$PY" bench/provisioning.py "$@"
