"""Reconciliation in the console through Django's test client: upload, the
run page, pairing by hand, adjustments through maker-checker, explanations;
double submits act once and a viewer changes nothing. (The browser scenario
with a real worker is tests/console/scenarios/test_reconciliation.py.)"""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.actors import Actor
from audit.models import AuditEvent
from ledger.models import ApprovalRequest, EntryKind, LedgerEntry
from reconciliation.models import ItemKind, ItemStatus, ReconciliationItem, ReconciliationRun
from tests.reconciliation.conftest import T0, csv_text, make_books

from .conftest import csrf_token, form_value

H = dt.timedelta(hours=1)


def statement_rows():
    """One line that matches, one amount drift, one line the ledger lacks."""
    return [("ch_ok", 2000, "USD", T0, "Order 1"), ("ch_drift", 1010, "USD", T0 + H, "Order 2"),
            ("ch_new", 1500, "USD", T0 + 5 * H, "Order 3")]


@pytest.fixture
def recon(console_tenant, monkeypatch):
    """Books on the console tenant: stripe_usd with three entries (one the
    provider never reports), matched in this process when uploaded."""
    from reconciliation.services import imports

    books = make_books(console_tenant.provisioned)
    books.post(amount=2000, reference="ch_ok", at=T0)
    books.post(amount=1000, reference="ch_drift", at=T0 + H)
    books.post(amount=800, reference="ch_lost", at=T0 + 2 * H)
    connection.set_schema_to_public()
    monkeypatch.setattr(imports, "_enqueue_on_commit", lambda run_id: None)
    return books


def match_now(ct, run_id: int):
    from reconciliation.services.matching import reconciliation_run_match

    with ct.schema():
        run = reconciliation_run_match(run_id=run_id, actor=Actor.system("tests"))
        assert run.status == "completed", run.error


def upload_form(client, rows=None, *, key=None, name="march.csv", raw: str | None = None):
    page = client.get("/console/reconciliation/upload/").content.decode()
    data = {"csrfmiddlewaretoken": form_value(page, "csrfmiddlewaretoken"),
            "form_key": key or form_value(page, "form_key"),
            "file": SimpleUploadedFile(name, (raw if raw is not None else csv_text(rows or statement_rows())).encode(),
                                       content_type="text/csv"),
            "format": "generic_csv", "account": "stripe_usd", "date_window_days": "3", "amount_basis": "net"}
    return data


def imported_run(ct, client, rows=None) -> ReconciliationRun:
    r = client.post("/console/reconciliation/upload/", upload_form(client, rows))
    assert r.status_code == 302 and "/console/reconciliation/" in r["Location"], r.content[:500]
    with ct.schema():
        run = ReconciliationRun.objects.get()
    match_now(ct, run.pk)
    return run


def items(ct, run_id) -> dict[str, list[ReconciliationItem]]:
    out: dict[str, list] = {}
    with ct.schema():
        for it in ReconciliationItem.objects.filter(run_id=run_id).select_related("entry").order_by("id"):
            out.setdefault(it.kind, []).append(it)
    return out


def audits(ct, prefix: str) -> int:
    with ct.schema():
        return AuditEvent.objects.filter(action__startswith=prefix).count()


def post_action(client, page: str, action: str, **fields):
    html = client.get(page).content.decode()
    data = {"csrfmiddlewaretoken": form_value(html, "csrfmiddlewaretoken"), **fields}
    return client.post(action, data)


def test_upload_shows_the_run_and_its_breaks(console_tenant, recon):
    c = console_tenant.client("operator1")
    r = c.post("/console/reconciliation/upload/", upload_form(c))
    assert r.status_code == 302
    page = c.get(r["Location"]).content.decode()
    assert "Matching…" in page and 'http-equiv="refresh"' in page and "of 3 lines read" in page
    with console_tenant.schema():
        run = ReconciliationRun.objects.get()
        assert run.status == "pending" and run.lines_total == 3 and run.actor_ref.endswith(":operator1")
    match_now(console_tenant, run.pk)
    page = c.get(f"/console/reconciliation/{run.pk}/").content.decode()
    assert 'http-equiv="refresh"' not in page and "Breaks by kind" in page
    # Totals per kind in major units with the currency: the drift is 10 minor units.
    assert "0.10" in page and "15.00" in page and "-8.00" in page.replace("−", "-")
    lst = c.get("/console/reconciliation/").content.decode()
    assert f"Run {run.pk}" in lst and "completed" in lst


def test_upload_double_submit_imports_once(console_tenant, recon):
    c = console_tenant.client("operator1")
    data = upload_form(c)
    key = data["form_key"]
    r1 = c.post("/console/reconciliation/upload/", data)
    r2 = c.post("/console/reconciliation/upload/", upload_form(c, key=key))
    assert r1.status_code == r2.status_code == 302 and r1["Location"] == r2["Location"]
    with console_tenant.schema():
        assert ReconciliationRun.objects.count() == 1
        assert ReconciliationRun.objects.get().reimport_count == 0
    assert audits(console_tenant, "reconciliation.imported") == 1
    assert audits(console_tenant, "reconciliation.reimported") == 0


def test_bad_file_names_the_line_and_stores_nothing(console_tenant, recon):
    c = console_tenant.client("operator1")
    raw = "reference,amount_minor,currency,booked_at,description\nch_1,12.50,USD,2025-03-01,x\n"
    r = c.post("/console/reconciliation/upload/", upload_form(c, raw=raw))
    body = r.content.decode()
    assert r.status_code == 400 and "statement_amount_invalid" in body and "line 2" in body
    with console_tenant.schema():
        assert ReconciliationRun.objects.count() == 0


def test_pair_by_hand_then_adjust_through_a_checker(console_tenant, recon):
    ct = console_tenant
    op = ct.client("operator1")
    run = imported_run(ct, op)
    found = items(ct, run.pk)
    new_line = found[ItemKind.MISSING_IN_LEDGER][0]
    lost = found[ItemKind.MISSING_AT_PROVIDER][0]
    item_page = f"/console/reconciliation/{run.pk}/items/{new_line.pk}/"
    html = op.get(item_page).content.decode()
    assert lost.entry.posting_id in html  # offered as a candidate
    key = form_value(html.split('id="match"')[1], "form_key")
    fields = {"form_key": key, "entry": lost.entry.posting_id}
    r1 = post_action(op, item_page, f"{item_page}match/", **fields)
    r2 = post_action(op, item_page, f"{item_page}match/", **fields)
    assert r1.status_code == r2.status_code == 302
    assert audits(ct, "reconciliation_item.matched_by_hand") == 1
    with ct.schema():
        line = ReconciliationItem.objects.get(pk=new_line.pk)
        assert (line.kind, line.status, line.entry_id, line.difference) == (
            ItemKind.AMOUNT_DRIFT, ItemStatus.OPEN, lost.entry_id, 700)
        assert ReconciliationItem.objects.get(pk=lost.pk).status == ItemStatus.MATCHED

    # Ask for the adjusting entry: nothing posts until someone else approves.
    html = op.get(item_page).content.decode()
    key = form_value(html.split('id="adjust"')[1], "form_key")
    fields = {"form_key": key, "counter_account": "recon_suspense_usd", "note": "fee taken at the provider"}
    r1 = post_action(op, item_page, f"{item_page}adjust/", **fields)
    r2 = post_action(op, item_page, f"{item_page}adjust/", **fields)
    assert r1.status_code == r2.status_code == 302 and r1["Location"] == r2["Location"]
    with ct.schema():
        approval = ApprovalRequest.objects.get()
        assert approval.kind == "recon_adjust" and approval.status == "pending" and approval.amount_minor == 700
        assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()
    assert audits(ct, "reconciliation_item.adjustment_requested") == 1
    page = op.get(r1["Location"]).content.decode()
    assert "You requested this change" in page and "Reconciliation adjustment" in page

    # A second request for the same item while one waits is refused.
    html = op.get(item_page).content.decode()
    assert 'id="adjust"' not in html and approval.public_id in html
    r = post_action(op, item_page, f"{item_page}adjust/", form_key="con_another_key_123",
                    counter_account="recon_suspense_usd", note="")
    assert r.status_code == 409 and "reconciliation_adjustment_pending" in r.content.decode()

    # The approver decides on the Approvals page.
    ap = ct.client("approver1")
    decide = f"/console/approvals/{approval.public_id}/"
    html = ap.get(decide).content.decode()
    r = ap.post(f"{decide}decide/", {"csrfmiddlewaretoken": form_value(html, "csrfmiddlewaretoken"),
                                       "form_key": form_value(html, "form_key"), "decision": "approve", "note": "ok"})
    assert r.status_code == 302 and "/console/entries/pst_" in r["Location"]
    with ct.schema():
        approval.refresh_from_db()
        entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
        line = ReconciliationItem.objects.get(pk=new_line.pk)
        assert approval.status == "posted" and approval.entry_id == entry.pk
        assert line.status == ItemStatus.RESOLVED and line.adjusting_entry_id == entry.pk
        assert line.resolved_by.endswith(":approver1")
        assert entry.idempotency_key == approval.idempotency_key
        assert entry.metadata["approval"]["requested_by"].endswith(":operator1")
        assert entry.metadata["reconciliation_item"] == line.pk
    html = op.get(item_page).content.decode()
    assert "resolved" in html and entry.posting_id in html


def test_explain_double_submit_and_viewer_refused(console_tenant, recon):
    ct = console_tenant
    op = ct.client("operator1")
    run = imported_run(ct, op)
    drift = items(ct, run.pk)[ItemKind.AMOUNT_DRIFT][0]
    page = f"/console/reconciliation/{run.pk}/items/{drift.pk}/"
    html = op.get(page).content.decode()
    key = form_value(html.split('id="explain"')[1], "form_key")
    for _ in range(2):
        r = post_action(op, page, f"{page}explain/", form_key=key, note="rounding at the provider")
        assert r.status_code == 302
    assert audits(ct, "reconciliation_item.explained") == 1
    with ct.schema():
        assert ReconciliationItem.objects.get(pk=drift.pk).status == ItemStatus.EXPLAINED


def test_viewer_gets_403_on_every_reconciliation_action_and_nothing_is_written(console_tenant, recon):
    ct = console_tenant
    run = imported_run(ct, ct.client("operator1"))
    line = items(ct, run.pk)[ItemKind.MISSING_IN_LEDGER][0]
    viewer = ct.client("viewer1")
    base = f"/console/reconciliation/{run.pk}/items/{line.pk}/"
    before = audits(ct, "")
    token = csrf_token(viewer, "/console/reconciliation/")
    actions = {
        "/console/reconciliation/upload/": {"format": "generic_csv", "account": "stripe_usd"},
        f"/console/reconciliation/{run.pk}/rerun/": {},
        f"{base}match/": {"entry": "ch_lost"},
        f"{base}adjust/": {"counter_account": "recon_suspense_usd"},
        f"{base}explain/": {"note": "x"},
    }
    for path, fields in actions.items():
        r = viewer.post(path, {"csrfmiddlewaretoken": token, "form_key": "con_viewer_try_1234", **fields})
        assert r.status_code == 403 and "permission_denied" in r.content.decode(), path
    # The pages themselves are readable; the buttons are not shown.
    html = viewer.get(base).content.decode()
    assert 'id="match"' not in html and 'id="adjust"' not in html
    assert viewer.get("/console/reconciliation/upload/").status_code == 403
    assert audits(ct, "") == before
    with ct.schema():
        assert ReconciliationRun.objects.count() == 1 and not ApprovalRequest.objects.exists()
        assert ReconciliationItem.objects.get(pk=line.pk).status == ItemStatus.OPEN


@pytest.mark.parametrize("username,status", [("viewer1", 200), ("operator1", 200), ("approver1", 200),
                                             ("compliance1", 200), ("admin1", 200)])
def test_run_and_item_pages_by_role(console_tenant, recon, username, status):
    ct = console_tenant
    run = imported_run(ct, ct.client("operator1"))
    item = items(ct, run.pk)[ItemKind.MATCHED][0]
    c = ct.client(username)
    for path in (f"/console/reconciliation/{run.pk}/", f"/console/reconciliation/{run.pk}/items/{item.pk}/",
                 f"/console/reconciliation/{run.pk}/?kind=matched&show=all"):
        assert c.get(path).status_code == status, path
    assert c.get("/console/reconciliation/999999/").status_code == 404
    assert c.get(f"/console/reconciliation/{run.pk}/items/999999/").status_code == 404


def test_stripe_statement_from_the_console(console_tenant, recon):
    ct = console_tenant
    c = ct.client("operator1")
    raw = ("id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),Description\n"
           "txn_1,charge,ch_ok,20.30,0.30,20.00,usd,2025-03-01 00:00,2025-03-03 00:00,Order 1\n"
           "txn_2,charge,ch_drift,10.00,0.00,10.00,usd,2025-03-01 01:00,2025-03-03 00:00,Order 2\n")
    data = upload_form(c, raw=raw, name="balance_history.csv")
    data["format"] = "stripe_balance_csv"
    r = c.post("/console/reconciliation/upload/", data)
    assert r.status_code == 302
    with ct.schema():
        run = ReconciliationRun.objects.get()
        assert (run.format, run.amount_basis, run.lines_total) == ("stripe_balance_csv", "net", 2)
    match_now(ct, run.pk)
    found = items(ct, run.pk)
    assert len(found[ItemKind.MATCHED]) == 2 and len(found[ItemKind.MISSING_AT_PROVIDER]) == 1
    page = c.get(f"/console/reconciliation/{run.pk}/").content.decode()
    assert "Stripe balance transactions" in page and "balance_history.csv" in page


def test_an_adjustment_approved_after_the_item_was_explained_fails_and_posts_nothing(console_tenant, recon):
    ct = console_tenant
    op = ct.client("operator1")
    run = imported_run(ct, op)
    drift = items(ct, run.pk)[ItemKind.AMOUNT_DRIFT][0]
    page = f"/console/reconciliation/{run.pk}/items/{drift.pk}/"
    html = op.get(page).content.decode()
    adjust_key = form_value(html.split('id="adjust"')[1], "form_key")
    explain_key = form_value(html.split('id="explain"')[1], "form_key")
    assert post_action(op, page, f"{page}adjust/", form_key=adjust_key, counter_account="recon_suspense_usd",
                       note="").status_code == 302
    # Meanwhile someone explains it from a page opened before the request (the form was still there).
    other = ct.client("operator2")
    assert post_action(other, page, f"{page}explain/", form_key=explain_key, note="known fee").status_code == 302
    with ct.schema():
        approval = ApprovalRequest.objects.get()
    ap = ct.client("approver1")
    html = ap.get(f"/console/approvals/{approval.public_id}/").content.decode()
    r = ap.post(f"/console/approvals/{approval.public_id}/decide/", {
        "csrfmiddlewaretoken": form_value(html, "csrfmiddlewaretoken"), "form_key": form_value(html, "form_key"),
        "decision": "approve", "note": ""})
    assert r.status_code == 302
    assert "refused" in ap.get(r["Location"]).content.decode()
    with ct.schema():
        approval.refresh_from_db()
        assert approval.status == "failed" and approval.outcome["code"] == "reconciliation_item_not_open"
        assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()
        assert ReconciliationItem.objects.get(pk=drift.pk).status == ItemStatus.EXPLAINED


def test_match_again_from_the_console_starts_one_run(console_tenant, recon):
    ct = console_tenant
    op = ct.client("operator1")
    run = imported_run(ct, op)
    html = op.get(f"/console/reconciliation/{run.pk}/").content.decode()
    key = form_value(html.split(f"/console/reconciliation/{run.pk}/rerun/")[1], "form_key")
    for _ in range(2):
        r = post_action(op, f"/console/reconciliation/{run.pk}/", f"/console/reconciliation/{run.pk}/rerun/",
                        form_key=key)
        assert r.status_code == 302
    with ct.schema():
        new = ReconciliationRun.objects.exclude(pk=run.pk).get()
        assert new.rerun_of_id == run.pk and new.status == "pending"
    assert r["Location"] == f"/console/reconciliation/{new.pk}/"


def test_two_lines_paired_with_one_entry_at_once_pair_once(console_tenant, recon):
    import threading

    from reconciliation import errors
    from reconciliation.services.resolution import reconciliation_item_match

    ct = console_tenant
    outside = recon.post(amount=500, reference="po_old", at=T0 - dt.timedelta(days=20))  # not in the period
    connection.set_schema_to_public()
    run = imported_run(ct, ct.client("operator1"), rows=[("ch_ok", 2000, "USD", T0, ""),
                                                         ("tr_a", 500, "USD", T0 + H, ""),
                                                         ("tr_b", 500, "USD", T0 + H, "")])
    lines = items(ct, run.pk)[ItemKind.MISSING_IN_LEDGER]
    assert len(lines) == 2
    barrier, results = threading.Barrier(2), []

    def pair(item_id: int) -> None:
        connection.set_tenant(ct.tenant)
        try:
            barrier.wait()
            reconciliation_item_match(actor=Actor.system("tests"), run_id=run.pk, item_id=item_id,
                                      entry_ref="po_old")
            results.append("paired")
        except errors.ReconciliationMatchInvalid:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pair, args=(it.pk,)) for it in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["paired", "refused"]
    with ct.schema():
        assert ReconciliationItem.objects.filter(run=run, entry_id=outside).count() == 1
