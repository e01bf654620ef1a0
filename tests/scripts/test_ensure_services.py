"""scripts/ensure_services.sh uses running services and creates the database, idempotently."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
from django.conf import settings
from django.db import connection

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "ensure_services.sh"


def _run(database_url: str, redis_url: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url or settings.REDIS_URL, PYTHON=sys.executable)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def _server_url(dbname: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def test_creates_the_database_once():
    name = f"zentra_svc_{uuid.uuid4().hex[:8]}"
    url = _server_url(name)
    try:
        first = _run(url)
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"created database {name}" in first.stdout
        assert "Redis answers" in first.stdout
        second = _run(url)
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"database {name} exists" in second.stdout
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_never_starts_a_server_it_does_not_own():
    # 127.0.0.2 is not "this machine's default service": the script must refuse,
    # not install or start anything.
    result = _run("postgres://postgres@127.0.0.2:1/zentra")
    assert result.returncode == 1
    assert "does not answer, and it is not on this machine" in result.stdout
