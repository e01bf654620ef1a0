"""POST /v1/reconciliations: re-imports, Stripe conversion end to end, bad
input (a clear 4xx naming line and column, and nothing stored), limits,
scopes, and tenant isolation."""
from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import override_settings

from core.actors import Actor
from audit.models import AuditEvent
from reconciliation.models import ReconciliationItem, ReconciliationRun, StatementChunk
from tenants.services.api_keys import api_key_create

from .conftest import T0, all_items, csv_text, make_books, upload, wait_done

STRIPE_HEADER = "id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),Description"


@pytest.fixture
def no_worker(monkeypatch):
    """Imports without queuing the matching (the test does not need it)."""
    from reconciliation.services import imports

    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)


def stored(books) -> tuple[int, int]:
    connection.set_tenant(books.tenant.tenant)
    try:
        return ReconciliationRun.objects.count(), StatementChunk.objects.count()
    finally:
        connection.set_schema_to_public()


def test_reimporting_the_same_file_answers_with_the_first_run(books, api_client, no_worker):
    client = api_client(books.tenant.api_key.plaintext)
    content = csv_text([("a", 100, "USD", T0, ""), ("b", -5, "USD", T0, "")])
    first = upload(client, content, name="march.csv")
    assert first.status_code == 202
    again = upload(client, content, name="march-again.csv", date_window_days=7)
    assert again.status_code == 200, again.content
    body = again.json()
    assert body["id"] == body["duplicate_of"] == first.json()["id"]
    assert again["Duplicate-Of"] == str(body["id"]) and body["reimport_count"] == 1
    assert body["file_name"] == "march.csv" and body["date_window_days"] == 3
    assert stored(books) == (1, 1)
    # Another account, or a different byte: a new run.
    assert upload(client, content, account=books.suspense.code).status_code == 202
    assert upload(client, content.replace("-5", "-6")).status_code == 202
    assert stored(books)[0] == 3
    connection.set_tenant(books.tenant.tenant)
    assert AuditEvent.objects.filter(action="reconciliation.reimported", target_id=str(body["id"])).count() == 1
    assert AuditEvent.objects.filter(action="reconciliation.imported").count() == 3


@pytest.mark.worker
@pytest.mark.parametrize("currency,amount,fee,net,minor", [
    ("JPY", "15000", "450", "14550", 14550),
    ("KWD", "12.345", "0.300", "12.045", 12045),
    ("USD", "1250.00", "36.55", "1213.45", 121345),
])
def test_stripe_export_matches_in_minor_units(tenant_factory, api_client, celery_worker_proc, currency, amount,
                                              fee, net, minor):
    provisioned = tenant_factory()
    books = make_books(provisioned, currency=currency)
    entry = books.post(amount=minor, reference="ch_1", at=T0)
    connection.set_schema_to_public()
    client = api_client(books.tenant.api_key.plaintext)
    content = "\n".join([STRIPE_HEADER, f"txn_1,charge,ch_1,{amount},{fee},{net},{currency.lower()},"
                                        "2025-03-01 00:30,2025-03-03 00:00,Order 1"])
    r = upload(client, content, account=books.settlement.code, fmt="stripe_balance_csv")
    assert r.status_code == 202, r.content
    assert r.json()["amount_basis"] == "net"
    done = wait_done(client, r.json()["id"])
    assert done["counts"]["matched"] == 1, done
    [item] = all_items(client, done["id"])
    assert item["ledger"]["entry_id"] == entry
    assert item["statement"]["amount_minor"] == minor and item["statement"]["currency"] == currency
    assert item["statement"]["details"]["fee"] == int(fee.replace(".", ""))
    assert done["totals"] == [{"currency": currency, "statement_total_minor": minor, "ledger_total_minor": minor,
                               "difference_minor": 0}]


GOOD_HEADER = "reference,amount_minor,currency,booked_at,description"


@pytest.mark.parametrize("content,fields,status,code,line,column", [
    ("ref,amount,currency,date,desc\na,1,USD,2025-03-01,\n", {}, 400, "statement_columns_invalid", 1, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\nb,abc,USD,2025-03-01,\n", {}, 400, "statement_amount_invalid", 3,
     "amount_minor"),
    (f"{GOOD_HEADER}\na,12.50,USD,2025-03-01,\n", {}, 400, "statement_amount_invalid", 2, "amount_minor"),
    (f"{GOOD_HEADER}\na,1,ABC,2025-03-01,\n", {}, 400, "statement_currency_unknown", 2, "currency"),
    (f"{GOOD_HEADER}\na,1,USD,yesterday,\n", {}, 400, "statement_date_invalid", 2, "booked_at"),
    (f"{GOOD_HEADER}\na,1,USD\n", {}, 400, "statement_columns_invalid", 2, None),
    ("", {}, 400, "statement_empty", None, None),
    (f"{GOOD_HEADER}\n", {}, 400, "statement_empty", 1, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,ok\nb,2,USD,2025-03-01,caf".encode() + b"\xe9\n", {}, 400,
     "statement_not_utf8", 3, None),
    (f"{STRIPE_HEADER}\ntxn_1,charge,ch_1,100.5,0,100.5,jpy,2025-03-01 10:00,,x\n",
     {"fmt": "stripe_balance_csv", "account": "stripe_usd"}, 400, "statement_amount_invalid", 2, "Amount"),
    (f"{STRIPE_HEADER}\ntxn_1,charge,ch_1,1.2345,0,1.2345,kwd,2025-03-01 10:00,,x\n",
     {"fmt": "stripe_balance_csv"}, 400, "statement_amount_invalid", 2, "Amount"),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\n", {"account": "no_such_account"}, 400, "account_not_found", None, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\n", {"fmt": "ofx"}, 400, "validation_error", None, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\n", {"date_window_days": 99}, 400, "validation_error", None, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\n", {"period_start": "2025-03-09", "period_end": "2025-03-01"}, 400,
     "invalid_range", None, None),
    (f"{GOOD_HEADER}\na,1,USD,2025-03-01,\n", {"colour": "red"}, 400, "unknown_field", None, None),
])
def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(books, api_client, no_worker, content, fields, status,
                                                       code, line, column):
    client = api_client(books.tenant.api_key.plaintext)
    kwargs = {}
    if "fmt" in fields:
        kwargs["fmt"] = fields.pop("fmt")
    r = upload(client, content, **kwargs, **fields)
    assert r.status_code == status, r.content
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code
    assert body.get("line") == line and body.get("column") == column
    if line:
        assert f"Line {line}" in body["detail"]
    if column:
        assert f"column '{column}'" in body["detail"]
    assert stored(books) == (0, 0)


def test_missing_file_and_wrong_content_type(books, api_client):
    client = api_client(books.tenant.api_key.plaintext)
    r = client.post("/v1/reconciliations", {"format": "generic_csv", "account": "stripe_usd"}, format="multipart")
    assert (r.status_code, r.json()["code"]) == (400, "validation_error")
    r = client.post("/v1/reconciliations", {"format": "generic_csv"}, format="json")
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")
    assert stored(books) == (0, 0)


def test_a_200_mb_upload_is_refused_before_it_is_read(books, api_client):
    client = api_client(books.tenant.api_key.plaintext)
    r = client.generic("POST", "/v1/reconciliations", b"--x--", content_type="multipart/form-data; boundary=x",
                       CONTENT_LENGTH=str(200 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert "the limit is 104857600 bytes" in r.json()["detail"]
    # JSON endpoints under the upload path keep the 1 MB limit.
    r = client.generic("POST", "/v1/reconciliations/1/rerun", b"{}", content_type="application/json",
                       CONTENT_LENGTH=str(2 * 1024 * 1024))
    assert r.status_code == 413
    assert stored(books) == (0, 0)


def test_the_upload_limit_holds_without_a_content_length(books, api_client, no_worker):
    client = api_client(books.tenant.api_key.plaintext)
    big = csv_text([(f"r{i}", i + 1, "USD", T0, "x" * 40) for i in range(200)])
    assert len(big) > 5000
    with override_settings(RECONCILIATION_MAX_UPLOAD_BYTES=5000):  # the multipart reader stops at the limit
        r = upload(client, big)
    assert (r.status_code, r.json()["code"]) == (413, "statement_too_large")
    assert stored(books) == (0, 0)
    with override_settings(RECONCILIATION_MAX_UPLOAD_BYTES=len(big) + 10):
        assert upload(client, big).status_code == 202


def test_scopes(books, api_client, no_worker):
    connection.set_schema_to_public()
    reader = api_key_create(actor=Actor.system("tests"), tenant=books.tenant.tenant, name="reader", scopes=["ledger:read"])
    client = api_client(reader.plaintext)
    r = upload(client, csv_text([("a", 1, "USD", T0, "")]))
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_scope")
    assert client.get("/v1/reconciliations").status_code == 200
    assert api_client().get("/v1/reconciliations").status_code == 401
    run_id = upload(api_client(books.tenant.api_key.plaintext), csv_text([("a", 1, "USD", T0, "")])).json()["id"]
    assert client.post(f"/v1/reconciliations/{run_id}/rerun", {}, format="json").status_code == 403
    assert client.post(f"/v1/reconciliations/{run_id}/items/1/resolve", {"action": "explain", "note": "x"},
                       format="json").status_code == 403


def test_list_filters_and_detail(books, api_client, no_worker):
    client = api_client(books.tenant.api_key.plaintext)
    a = upload(client, csv_text([("a", 1, "USD", T0, "")])).json()["id"]
    b = upload(client, csv_text([("b", 1, "USD", T0, "")]), account=books.suspense.code).json()["id"]
    assert [r["id"] for r in client.get("/v1/reconciliations").json()["results"]] == [b, a]
    assert [r["id"] for r in client.get("/v1/reconciliations", {"account": "stripe_usd"}).json()["results"]] == [a]
    assert client.get("/v1/reconciliations", {"status": "completed"}).json()["results"] == []
    assert client.get("/v1/reconciliations", {"status": "bogus"}).json()["code"] == "validation_error"
    assert client.get("/v1/reconciliations", {"acount": "x"}).json()["code"] == "unknown_filter"
    detail = client.get(f"/v1/reconciliations/{a}").json()
    assert detail["status"] == "pending" and detail["lines_processed"] == 0 and detail["lines_total"] == 1
    assert detail["period_start"] == "2025-03-01T00:00:00Z" and detail["period_end"] == "2025-03-02T00:00:00Z"
    assert client.get("/v1/reconciliations/abc").json()["code"] == "reconciliation_not_found"
    r = client.post(f"/v1/reconciliations/{a}/rerun", {}, format="json")
    assert (r.status_code, r.json()["code"]) == (409, "reconciliation_in_progress")


def test_tenants_never_see_each_other(tenant_factory, api_client, no_worker):
    from reconciliation.services.matching import reconciliation_run_match

    ta, tb = tenant_factory(), tenant_factory()
    a, b = make_books(ta), make_books(tb)
    a.post(amount=100, reference="shared_ref", at=T0)
    b.post(amount=999, reference="other", at=T0)
    connection.set_schema_to_public()
    ca, cb = api_client(a.tenant.api_key.plaintext), api_client(b.tenant.api_key.plaintext)
    content = csv_text([("shared_ref", 100, "USD", T0, "")])
    run_a = upload(ca, content).json()["id"]
    # The same file in B is B's own first import, and B's ledger has no such entry.
    r = upload(cb, content)
    assert r.status_code == 202
    run_b = r.json()["id"]
    for books, run_id in ((a, run_a), (b, run_b)):
        connection.set_tenant(books.tenant.tenant)
        reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
    connection.set_schema_to_public()
    assert ca.get(f"/v1/reconciliations/{run_a}").json()["counts"]["matched"] == 1
    counts_b = cb.get(f"/v1/reconciliations/{run_b}").json()["counts"]
    assert (counts_b["matched"], counts_b["missing_in_ledger"], counts_b["missing_at_provider"]) == (0, 1, 1)
    # B's key cannot read A's runs or items by id, nor name A-only accounts.
    connection.set_tenant(a.tenant.tenant)
    a_only = ReconciliationRun.objects.create(
        account=a.settlement, format="generic_csv", file_sha256="x" * 64, file_size=1, date_window_days=1,
        period_start=T0, period_end=T0 + dt.timedelta(days=1), lines_total=0, actor_ref="t", correlation_id="c")
    item = ReconciliationItem.objects.filter(run_id=run_a).first()
    connection.set_schema_to_public()
    assert cb.get(f"/v1/reconciliations/{a_only.pk}").status_code == 404
    assert [r["id"] for r in cb.get("/v1/reconciliations").json()["results"]] == [run_b]
    r = cb.post(f"/v1/reconciliations/{run_b}/items/{item.pk + 100}/resolve", {"action": "explain", "note": "x"},
                format="json")
    assert r.status_code == 404
    connection.set_tenant(a.tenant.tenant)
    from ledger.services.accounts import account_create
    account_create(actor=Actor.system("tests"), code="only_in_a", name="A", currency="USD", normal_side="debit",
                   kind="asset")
    connection.set_schema_to_public()
    r = upload(cb, csv_text([("z", 1, "USD", T0, "")]), account="only_in_a")
    assert (r.status_code, r.json()["code"]) == (400, "account_not_found")
