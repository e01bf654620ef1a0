"""Every path that writes entries obeys the closed-period rule: batches
(atomic and per item), reconciliation adjustments, reversals and hold
captures."""
import datetime as dt

from django.db import connection

from closeout.services.periods import period_close
from ledger.models import LedgerEntry
from tests.closeout.conftest import post_entry
from tests.reconciliation.conftest import T0, all_items
from tests.reconciliation.test_resolution import _resolve, _run_in_process


def _item(key, eff, amount=10):
    return {"debit": "cash", "credit": "customer", "amount_minor": amount, "currency": "USD",
            "idempotency_key": key, "effective_at": eff}


def test_batches_refuse_or_move_backdated_items(books, tenant_a):
    api = books
    assert api.post("/v1/periods/2025-01/close").status_code == 200
    items = [_item("b-ok", "2025-02-10T00:00:00Z"), _item("b-old", "2025-01-10T00:00:00Z")]
    r = api.post("/v1/ledger-entries/batch", {"mode": "atomic", "entries": items}, format="json")
    assert r.status_code == 422, r.content
    body = r.json()
    assert body["code"] == "period_closed" and body["item_index"] == 1 and body["idempotency_key"] == "b-old"
    connection.set_tenant(tenant_a.tenant)
    assert not LedgerEntry.objects.filter(idempotency_key__in=["b-ok", "b-old"]).exists()
    connection.set_schema_to_public()
    r = api.post("/v1/ledger-entries/batch", {"mode": "per_item", "entries": items}, format="json")
    assert r.status_code == 200
    res = r.json()["results"]
    assert res[0]["status"] == 201 and res[1]["status"] == 422 and res[1]["body"]["code"] == "period_closed"
    assert api.put("/v1/closeout/settings", {"closed_period_entries": "move_to_open"}, format="json").status_code == 200
    r = api.post("/v1/ledger-entries/batch", {"mode": "atomic", "entries": [_item("b-moved", "2025-01-03T00:00:00Z")]},
                 format="json")
    assert r.status_code == 201, r.content
    moved = r.json()["results"][0]["body"]
    assert moved["effective_at"].startswith("2025-02-01") and moved["metadata"]["closeout"]["original_effective_at"]


def test_reversal_and_capture_after_close_are_dated_in_the_open_period(books):
    api = books
    r = post_entry(api, "jan", 800, "2025-01-05T00:00:00Z")
    assert r.status_code == 201
    jan_id = r.json()["id"]
    assert api.post("/v1/periods/2025-01/close").status_code == 200
    r = api.post(f"/v1/ledger-entries/{jan_id}/reverse", {"idempotency_key": "rev-1"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["effective_at"][:4] == str(dt.datetime.now(dt.timezone.utc).year)
    r = api.post("/v1/holds", {"account": "customer", "amount_minor": 50, "currency": "USD",
                               "destination": "revenue", "idempotency_key": "h"}, format="json")
    assert r.status_code == 201, r.content
    r = api.post(f"/v1/holds/{r.json()['hold_id']}/capture", {"idempotency_key": "cap"}, format="json")
    assert r.status_code == 201, r.content


def test_reconciliation_adjustment_into_a_closed_period(tenant_a, api_client, monkeypatch):
    from tests.reconciliation.conftest import make_books

    books = make_books(tenant_a)
    client = api_client(tenant_a.api_key.plaintext)
    run_id = _run_in_process(books, client, [("m1", 1500, "USD", T0 + dt.timedelta(days=2), "")], monkeypatch)
    [item] = all_items(client, run_id, kind="missing_in_ledger")
    connection.set_tenant(tenant_a.tenant)
    from core.actors import Actor

    period_close(actor=Actor.system("tests"), ref="2025-03")
    connection.set_schema_to_public()
    r = _resolve(client, run_id, item["id"], action="adjust", counter_account=books.suspense.code)
    assert r.status_code == 422 and r.json()["code"] == "period_closed", r.content
    assert all_items(client, run_id, kind="missing_in_ledger")[0]["status"] == "open"
    connection.set_tenant(tenant_a.tenant)
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()
    connection.set_schema_to_public()
    r = client.put("/v1/closeout/settings", {"closed_period_entries": "move_to_open"}, format="json")
    assert r.status_code == 200
    r = _resolve(client, run_id, item["id"], action="adjust", counter_account=books.suspense.code)
    assert r.status_code == 200, r.content
    connection.set_tenant(tenant_a.tenant)
    entry = LedgerEntry.objects.get(pk=r.json()["resolution"]["adjusting_entry_id"])
    assert entry.effective_at == dt.datetime(2025, 4, 1, tzinfo=dt.timezone.utc)
    assert entry.metadata["closeout"]["original_effective_at"].startswith("2025-03-03")
    connection.set_schema_to_public()
