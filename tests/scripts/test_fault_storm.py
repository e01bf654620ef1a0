"""bench/fault_storm.py at CI size: every fault kind injected, nothing lost or
duplicated, every webhook delivered, ledger_check clean. The storm runs its own
PostgreSQL cluster and Redis on free ports, so the shared ones are untouched."""
from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not shutil.which("redis-server"),
                       reason="needs PostgreSQL server binaries and redis-server"),
]


def _count(out: str, label: str) -> int:
    m = re.search(rf"{label} (\d+)", out)
    assert m, f"no '{label}' in the storm's output:\n{out}"
    return int(m.group(1))


def test_small_fault_storm_loses_and_duplicates_nothing():
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fault_storm.py"), "--small", "--seed", "20261124"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the storm then stops its private PostgreSQL,
        # Redis, gunicorn and Celery before exiting.
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
        pytest.fail(f"the storm did not finish in 600 s:\n{out}")
    assert proc.returncode == 0, out
    assert _count(out, "postings lost") == 0, out
    assert _count(out, "postings duplicated") == 0, out
    assert _count(out, "webhooks lost") == 0, out
    for kind in ("pg_terminate_backend", "redis_restart", "celery_worker_sigkill", "pg_restart"):
        assert _count(out, kind) >= 1, out
    assert _count(out, "indeterminate") >= 1, out  # the faults did hit requests in flight
    assert "RESULT: ok" in out
