#!/usr/bin/env bash
# Everything the test runs need, installed once: the virtualenv, PostgreSQL and
# Redis, Chromium, and Citus (built once, cached outside the clone). .ci/run
# calls it before starting `make test` and `make test-citus` side by side.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=prepare
cd "$ROOT"
ensure_venv
ensure_services
ensure_chromium
bash "$ROOT/scripts/citus_build.sh"
