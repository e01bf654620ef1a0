#!/usr/bin/env bash
# `make schema`: regenerate the committed OpenAPI contract (docs/openapi.yaml).
# tests/zentra_site/test_openapi.py fails while the two differ.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=schema
cd "$ROOT"

ensure_venv
mkdir -p docs
"$PY" manage.py spectacular --validate --file docs/openapi.yaml
log "wrote docs/openapi.yaml"
