"""Progress visible while a run's transaction is open; lost runs come back."""
from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from core.actors import Actor
from reconciliation.models import ReconciliationRun
from reconciliation.services import imports, matching
from reconciliation.services.sweep import reconciliation_stale_requeue

from .conftest import T0, csv_text, upload, wait_done


def test_readers_see_processing_and_lines_processed_move(books, api_client, monkeypatch):
    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)
    monkeypatch.setattr(matching, "PROGRESS_LINES", 2)
    monkeypatch.setattr(matching._Side, "PROGRESS_EVERY", 0)
    client = api_client(books.tenant.api_key.plaintext)
    run_id = upload(client, csv_text([(f"r{i}", i + 1, "USD", T0, "") for i in range(7)])).json()["id"]
    params = connection.get_connection_params()
    reader = psycopg.connect(**{k: params[k] for k in ("dbname", "user", "host", "port")}, autocommit=True)
    table = f'"{books.tenant.tenant.schema_name}".{ReconciliationRun._meta.db_table}'
    seen = []
    original = matching._Side.progress

    def spy(self, lines, **kw):
        original(self, lines, **kw)
        seen.append(reader.execute(f"SELECT status, lines_processed FROM {table} WHERE id = %s", [run_id]).fetchone())

    monkeypatch.setattr(matching._Side, "progress", spy)
    try:
        connection.set_tenant(books.tenant.tenant)
        run = matching.reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
    finally:
        reader.close()
    assert seen == [("processing", 2), ("processing", 4), ("processing", 6), ("processing", 7)]
    assert (run.status, run.lines_processed, run.lines_total) == ("completed", 7, 7)
    assert run.started_at is not None and run.completed_at >= run.started_at


@pytest.mark.worker
def test_a_lost_task_is_enqueued_again_and_a_dying_run_is_abandoned(books, api_client, monkeypatch,
                                                                    celery_worker_proc):
    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)  # as if Redis lost the message
    client = api_client(books.tenant.api_key.plaintext)
    lost = upload(client, csv_text([("a", 1, "USD", T0, "")])).json()["id"]
    dying = upload(client, csv_text([("b", 1, "USD", T0, "")])).json()["id"]
    connection.set_tenant(books.tenant.tenant)
    ReconciliationRun.objects.filter(pk=dying).update(status="processing", attempts=3,
                                                      heartbeat_at=timezone.now() - dt.timedelta(minutes=1))
    assert reconciliation_stale_requeue(actor=Actor.system("tests")) == {"requeued": 0, "abandoned": 0}
    later = timezone.now() + dt.timedelta(hours=1)
    assert reconciliation_stale_requeue(actor=Actor.system("tests"), now=later) == {"requeued": 1, "abandoned": 1}
    assert wait_done(client, lost)["status"] == "completed"
    failed = client.get(f"/v1/reconciliations/{dying}").json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "reconciliation_abandoned"
    # A failed run can be re-run (and this time Redis keeps the message).
    monkeypatch.undo()
    r = client.post(f"/v1/reconciliations/{dying}/rerun", {"date_window_days": 1}, format="json")
    assert r.status_code == 202
    assert wait_done(client, r.json()["id"])["status"] == "completed"


def test_the_beat_sweep_walks_every_tenant(books, api_client, monkeypatch):
    from reconciliation import tasks

    calls = []
    monkeypatch.setattr("reconciliation.services.sweep.reconciliation_stale_requeue",
                        lambda actor: calls.append(connection.schema_name) or {"requeued": 0, "abandoned": 0})
    connection.set_schema_to_public()
    tasks.reconciliation_sweep()
    assert books.tenant.tenant.schema_name in calls and "public" not in calls
