"""A worker process whose PostgreSQL connection died between tasks (server
restart, pg_terminate_backend) reconnects on its next task instead of failing
every task until Celery's reuse counter runs out (found by bench/fault_storm.py)."""
from __future__ import annotations

import pytest
from django.db import connection


def _terminate_other_backends() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cur.fetchone()[0]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_tasks_succeed_after_the_workers_backends_are_terminated(celery_worker_proc):
    from ledger.tasks import expire_due_holds

    for _ in range(4):  # both pool processes hold a connection now (or at least one does)
        assert expire_due_holds.delay().get(timeout=60) == {}
    assert _terminate_other_backends() >= 1
    for _ in range(6):
        assert expire_due_holds.delay().get(timeout=60) == {}


@pytest.mark.django_db
def test_eager_and_in_transaction_calls_leave_the_callers_connection_alone():
    from zentra_site.celery import _drop_unusable_connections

    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    before = connection.connection
    _drop_unusable_connections()  # inside the test's transaction: must not close it
    assert connection.connection is before
