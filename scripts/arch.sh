#!/usr/bin/env bash
# `make arch`: the layer contract (.importlinter), printed and checked.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=arch
cd "$ROOT"
ensure_venv
"$VENV/bin/lint-imports" --no-cache --verbose
