"""Manual entries from the console go through entry_post with the operator
as actor and the form's key as idempotency key; bad input writes nothing."""
from __future__ import annotations

import re

import pytest

from audit.models import AuditEvent
from ledger.models import Account, ApprovalRequest, IdempotencyRecord, LedgerEntry, LedgerLine
from events.models import Event

from .conftest import csrf_token, entry_form, new_key


def counts(ct) -> tuple[int, ...]:
    with ct.schema():
        return (LedgerEntry.objects.count(), LedgerLine.objects.count(), IdempotencyRecord.objects.count(),
                ApprovalRequest.objects.count(), AuditEvent.objects.count(), Event.objects.count())


def balance(ct, code: str) -> int:
    with ct.schema():
        return Account.objects.get(code=code).posted_balance


def test_operator_posts_as_actor_with_the_form_key(console_tenant):
    c = console_tenant.client("operator1")
    key = new_key()
    before = balance(console_tenant, "customer_balance")
    r = c.post("/console/new-entry/", entry_form(amount=2500, key=key, external_reference="order_1",
                                                  source_event="evt_console_1"))
    assert r.status_code == 302 and r["Location"].startswith("/console/entries/pst_")
    assert balance(console_tenant, "customer_balance") == before - 2500
    assert balance(console_tenant, "reserved_balance") == 2500
    with console_tenant.schema():
        entry = LedgerEntry.objects.get(idempotency_key=key)
        uid = console_tenant.users["operator1"].pk
        assert entry.actor_ref == f"user:{uid}:operator1" and entry.actor_kind == "user"
        assert entry.metadata == {"channel": "console"}
        assert entry.external_reference == "order_1" and entry.source_event == "evt_console_1"
        audit = AuditEvent.objects.get(action="ledger_entry.posted", target_id=str(entry.id))
        assert audit.actor_ref == entry.actor_ref and audit.ip == "127.0.0.1"
        assert Event.objects.filter(type="ledger.entry.created", payload__id=entry.id).count() == 1
    page = c.get(r["Location"]).content.decode()
    assert "Posted pst_" in page and key in page


def test_double_submit_posts_once_and_shows_the_same_entry(console_tenant):
    c = console_tenant.client("operator1")
    form = entry_form(amount=700)
    first = c.post("/console/new-entry/", form)
    n = counts(console_tenant)
    second = c.post("/console/new-entry/", form)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert counts(console_tenant)[:4] == n[:4]  # no entry, line, key or approval rows
    with console_tenant.schema():
        record = IdempotencyRecord.objects.get(key=form["idempotency_key"])
        assert record.replay_count == 1 and record.replays[0]["decision"] == "replayed"
    page = c.get(second["Location"]).content.decode()
    assert "already submitted" in page and "replayed <strong>1</strong>" in page


def test_same_key_with_changed_values_is_refused(console_tenant):
    c = console_tenant.client("operator1")
    form = entry_form(amount=700)
    c.post("/console/new-entry/", form)
    n = counts(console_tenant)
    r = c.post("/console/new-entry/", {**form, "amount_minor": "701"})
    assert r.status_code == 422 and "already submitted with different values" in r.content.decode()
    assert counts(console_tenant)[:4] == n[:4]
    # The form comes back with a fresh key for the new attempt.
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', r.content.decode()).group(1)
    assert fresh != form["idempotency_key"]


@pytest.mark.parametrize("bad", [
    {"debit": "someone_elses_account"},
    {"credit": "customer_balance"},  # debit == credit
    {"amount_minor": "0"},
    {"amount_minor": "-5"},
    {"amount_minor": "12.5"},
    {"amount_minor": "1e3"},
    {"amount_minor": str(2**63)},
    {"idempotency_key": ""},
    {"idempotency_key": "ключ"},
])
def test_forged_or_bad_input_is_refused_and_writes_nothing(console_tenant, bad):
    c = console_tenant.client("operator1")
    n = counts(console_tenant)
    r = c.post("/console/new-entry/", entry_form(**bad))
    assert r.status_code == 400
    assert counts(console_tenant) == n


def test_currency_mismatch_is_a_form_error(console_tenant):
    with console_tenant.schema():
        from ledger.services.accounts import account_create
        from .conftest import SETUP

        account_create(actor=SETUP, code="eur_wallet", name="EUR wallet", currency="EUR", normal_side="credit",
                       kind="liability")
    c = console_tenant.client("operator1")
    n = counts(console_tenant)
    r = c.post("/console/new-entry/", entry_form(credit="eur_wallet"))
    assert r.status_code == 400 and "one currency" in r.content.decode()
    assert counts(console_tenant) == n


def test_policy_rejection_is_explained_and_remembered(console_tenant):
    """customer_balance has 375,000 available under no_overdraft; the threshold
    is raised so the request reaches the boundary directly."""
    with console_tenant.schema():
        from ledger.services.policies import policy_revise
        from .conftest import SETUP

        policy_revise(actor=SETUP, name="four_eyes", params={"threshold_minor": 10**12})
    c = console_tenant.client("operator1")
    form = entry_form(amount=400_000)
    r = c.post("/console/new-entry/", form)
    body = r.content.decode()
    assert r.status_code == 422
    # In major units with the currency, as a person reads it.
    assert "no_overdraft" in body and "3,750.00 USD available" in body and "4,000.00 USD was requested" in body
    assert "Not posted" in body
    assert "/console/evidence/?key=" in body
    assert balance(console_tenant, "customer_balance") == 375_000
    again = c.post("/console/new-entry/", form)  # the same form again: the remembered answer
    assert again.status_code == 422 and "3,750.00 USD available" in again.content.decode()
    with console_tenant.schema():
        record = IdempotencyRecord.objects.get(key=form["idempotency_key"])
        assert record.outcome == "rejected" and record.replay_count == 1
        assert not LedgerEntry.objects.filter(idempotency_key=form["idempotency_key"]).exists()
    evidence = c.get(f"/console/evidence/?key={form['idempotency_key']}").content.decode()
    assert "Why it was rejected" in evidence and "no_negative_available" in evidence


def test_viewer_and_approver_cannot_post(console_tenant):
    for username in ("viewer1", "approver1", "compliance1"):
        c = console_tenant.client(username)
        n = counts(console_tenant)
        r = c.post("/console/new-entry/", entry_form())
        assert r.status_code == 403 and "Nothing was changed" in r.content.decode()
        assert counts(console_tenant) == n


def test_post_without_csrf_token_is_refused(console_tenant):
    c = console_tenant.client("operator1", csrf=True)
    n = counts(console_tenant)
    r = c.post("/console/new-entry/", entry_form())
    assert r.status_code == 403
    body = r.content.decode()
    assert "csrf_failed" in body and "nothing was changed" in body and "<html" in body
    assert counts(console_tenant) == n
    # With the token from the rendered form the same client posts fine.
    token = csrf_token(c, "/console/new-entry/")
    r = c.post("/console/new-entry/", {**entry_form(), "csrfmiddlewaretoken": token})
    assert r.status_code == 302


def test_csrf_token_from_another_tenant_session_is_refused(console_tenant, other_tenant):
    a = console_tenant.client("operator1", csrf=True)
    b = other_tenant.client("operator1", csrf=True)
    token_b = csrf_token(b, "/console/new-entry/")
    n = counts(console_tenant)
    r = a.post("/console/new-entry/", {**entry_form(), "csrfmiddlewaretoken": token_b})
    assert r.status_code == 403
    assert counts(console_tenant) == n
