"""Holds, corrections and account status from the console (Django test
client): each action acts once per form, a viewer is refused and nothing is
written, another tenant's ids are not found, bad amounts come back as the
form with an error."""
from __future__ import annotations

import re

import pytest

from audit.models import AuditEvent
from ledger.models import Account, ApprovalRequest, Hold, HoldMovement, IdempotencyRecord, LedgerEntry, LedgerLine
from events.models import Event

from .back_office import form_key_in, make_entry, make_hold
from .conftest import THRESHOLD, new_key


def written(ct) -> tuple[int, ...]:
    """Every row an action could write."""
    with ct.schema():
        from console.models import FormSubmission

        return (LedgerEntry.objects.count(), LedgerLine.objects.count(), IdempotencyRecord.objects.count(),
                HoldMovement.objects.count(), ApprovalRequest.objects.count(), AuditEvent.objects.count(),
                Event.objects.count(), FormSubmission.objects.count())


def hold_row(ct, hold) -> Hold:
    with ct.schema():
        return Hold.objects.get(pk=hold.pk)


def account(ct, code: str) -> Account:
    with ct.schema():
        return Account.objects.get(code=code)


# --- holds --------------------------------------------------------------------
def test_partial_capture_double_submit_captures_once(console_tenant):
    hold = make_hold(console_tenant, amount=50_000)
    c = console_tenant.client("operator1")
    page = c.get(f"/console/holds/{hold.hold_id}/").content.decode()
    assert "Active" in page and "500.00" in page
    form = {"form_key": form_key_in(page, "capture-form"), "amount": "120.50", "destination": "",
            "description": "First shipment"}
    first = c.post(f"/console/holds/{hold.hold_id}/capture/", form)
    assert first.status_code == 302 and first["Location"] == f"/console/holds/{hold.hold_id}/"
    n = written(console_tenant)
    second = c.post(f"/console/holds/{hold.hold_id}/capture/", form)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert written(console_tenant)[:5] == n[:5]
    h = hold_row(console_tenant, hold)
    assert (h.status, h.captured_minor, h.remaining_minor) == ("partially_captured", 12_050, 37_950)
    with console_tenant.schema():
        entry = LedgerEntry.objects.get(idempotency_key=form["form_key"])
        uid = console_tenant.users["operator1"].pk
        assert entry.kind == "hold_capture" and entry.actor_ref == f"user:{uid}:operator1"
        assert IdempotencyRecord.objects.get(key=form["form_key"]).replay_count == 1
    shown = c.get(first["Location"]).content.decode()
    assert "Partially Captured" in shown or "Partially captured" in shown
    assert "120.50" in shown and entry.posting_id[-6:] in shown


def test_full_capture_then_release_is_refused(console_tenant):
    hold = make_hold(console_tenant, amount=30_000)
    c = console_tenant.client("operator1")
    page = c.get(f"/console/holds/{hold.hold_id}/").content.decode()
    r = c.post(f"/console/holds/{hold.hold_id}/capture/",
               {"form_key": form_key_in(page, "capture-form"), "amount": "", "destination": "settlement_clearing"})
    assert r.status_code == 302
    h = hold_row(console_tenant, hold)
    assert (h.status, h.captured_minor) == ("captured", 30_000)
    assert account(console_tenant, "settlement_clearing").posted_balance == 30_000
    n = written(console_tenant)
    r = c.post(f"/console/holds/{hold.hold_id}/release/", {"form_key": new_key(), "reason": "late"})
    assert r.status_code == 409 and "hold_not_active" in r.content.decode()
    assert written(console_tenant) == n


def test_release_double_submit_releases_once(console_tenant):
    hold = make_hold(console_tenant, amount=20_000)
    pending = account(console_tenant, "customer_balance").pending_balance
    c = console_tenant.client("operator1")
    page = c.get(f"/console/holds/{hold.hold_id}/").content.decode()
    form = {"form_key": form_key_in(page, "release-form"), "reason": "Order cancelled"}
    assert c.post(f"/console/holds/{hold.hold_id}/release/", form).status_code == 302
    n = written(console_tenant)
    r = c.post(f"/console/holds/{hold.hold_id}/release/", form)
    assert r.status_code == 302
    assert written(console_tenant)[:5] == n[:5]
    h = hold_row(console_tenant, hold)
    assert (h.status, h.released_minor) == ("released", 20_000)
    assert account(console_tenant, "customer_balance").pending_balance == pending - 20_000
    with console_tenant.schema():
        assert AuditEvent.objects.filter(action="hold.released", target_id=str(hold.pk)).count() == 1


@pytest.mark.parametrize("amount, message", [
    ("500.01", "only reserves 500.00 USD"),
    ("-5", "more than zero"),
    ("twelve", "major units"),
    ("1.234", "2 decimal places"),
])
def test_bad_capture_amounts_come_back_with_an_error(console_tenant, amount, message):
    hold = make_hold(console_tenant, amount=50_000)
    c = console_tenant.client("operator1")
    page = c.get(f"/console/holds/{hold.hold_id}/").content.decode()
    n = written(console_tenant)
    r = c.post(f"/console/holds/{hold.hold_id}/capture/",
               {"form_key": form_key_in(page, "capture-form"), "amount": amount})
    body = r.content.decode()
    assert r.status_code == 400 and message in body and "nothing was changed" in body.lower()
    assert f'value="{amount}"' in body  # the form comes back as typed
    assert written(console_tenant) == n
    assert hold_row(console_tenant, hold).captured_minor == 0


def test_active_hold_evidence_names_its_state(console_tenant):
    """A hold's key has no entry; its evidence page says Held and the hold's
    state, never Rejected."""
    hold = make_hold(console_tenant, amount=10_000)
    page = console_tenant.client("viewer1").get(f"/console/evidence/?key={hold.idempotency_key}")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Rejected" not in body and "rejected" not in body
    assert re.search(r'sp-title">Held<', body) and hold.hold_id in body and "Active" in body


# --- corrections ----------------------------------------------------------------
def test_reverse_double_submit_reverses_once(console_tenant):
    entry = make_entry(console_tenant, amount=2500)
    before = account(console_tenant, "customer_balance").posted_balance
    c = console_tenant.client("operator1")
    page = c.get(f"/console/entries/{entry.posting_id}/").content.decode()
    form = {"form_key": form_key_in(page, "reverse-form"), "amount": "", "description": "Wrong account"}
    first = c.post(f"/console/entries/{entry.posting_id}/reverse/", form)
    assert first.status_code == 302 and "/console/entries/pst_" in first["Location"]
    second = c.post(f"/console/entries/{entry.posting_id}/reverse/", form)
    assert second.status_code == 302 and second["Location"] == first["Location"]
    with console_tenant.schema():
        reversal = LedgerEntry.objects.get(reversal_of=entry)
        assert reversal.kind == "reversal" and reversal.idempotency_key == form["form_key"]
    assert account(console_tenant, "customer_balance").posted_balance == before + 2500
    shown = c.get(f"/console/entries/{entry.posting_id}/").content.decode()
    assert "Fully reversed" in shown and reversal.posting_id[-6:] in shown


@pytest.mark.parametrize("amount, message", [("25.01", "left to reverse"), ("-1", "more than zero"),
                                             ("abc", "major units")])
def test_bad_reversal_amounts_write_nothing(console_tenant, amount, message):
    entry = make_entry(console_tenant, amount=2500)
    c = console_tenant.client("operator1")
    page = c.get(f"/console/entries/{entry.posting_id}/").content.decode()
    n = written(console_tenant)
    r = c.post(f"/console/entries/{entry.posting_id}/reverse/",
               {"form_key": form_key_in(page, "reverse-form"), "amount": amount})
    assert r.status_code == 400 and message in r.content.decode()
    assert written(console_tenant) == n


def test_reversal_above_threshold_waits_for_a_second_person(console_tenant):
    entry = make_entry(console_tenant, amount=THRESHOLD + 5000)
    before = account(console_tenant, "customer_balance").posted_balance
    op = console_tenant.client("operator1")
    page = op.get(f"/console/entries/{entry.posting_id}/").content.decode()
    form = {"form_key": form_key_in(page, "reverse-form"), "amount": ""}
    r = op.post(f"/console/entries/{entry.posting_id}/reverse/", form)
    assert r.status_code == 302 and "/console/approvals/apr_" in r["Location"]
    again = op.post(f"/console/entries/{entry.posting_id}/reverse/", form)
    assert again["Location"] == r["Location"]
    public_id = r["Location"].rstrip("/").rsplit("/", 1)[-1]
    with console_tenant.schema():
        a = ApprovalRequest.objects.get(public_id=public_id)
        assert a.kind == "reversal" and a.payload == {"entry": entry.id} and a.status == "pending"
        assert not LedgerEntry.objects.filter(reversal_of=entry).exists()
    approver = console_tenant.client("approver1")
    page = approver.get(r["Location"]).content.decode()
    assert entry.posting_id in page and "Approve and post" in page
    key = re.search(r'name="form_key" value="([^"]+)"', page).group(1)
    d = approver.post(f"/console/approvals/{public_id}/decide/", {"form_key": key, "decision": "approve"})
    assert d.status_code == 302 and "/console/entries/pst_" in d["Location"]
    with console_tenant.schema():
        reversal = LedgerEntry.objects.get(reversal_of=entry)
        assert reversal.actor_ref.endswith(":approver1")
        assert reversal.metadata["approval"]["requested_by"].endswith(":operator1")
        assert ApprovalRequest.objects.get(public_id=public_id).status == "posted"
    assert account(console_tenant, "customer_balance").posted_balance == before + THRESHOLD + 5000


# --- account status -------------------------------------------------------------
def test_freeze_double_submit_then_unfreeze(console_tenant):
    c = console_tenant.client("operator1")
    page = c.get("/console/accounts/merchant_payable/").content.decode()
    key = form_key_in(page, "status-form")
    for _ in range(2):
        r = c.post("/console/accounts/merchant_payable/status/", {"form_key": key, "action": "freeze"})
        assert r.status_code == 302 and r["Location"] == "/console/accounts/merchant_payable/"
    assert account(console_tenant, "merchant_payable").status == "frozen"
    with console_tenant.schema():
        assert AuditEvent.objects.filter(action="account.frozen").count() == 1
        assert Event.objects.filter(type="account.frozen").count() == 1
    page = c.get("/console/accounts/merchant_payable/").content.decode()
    assert "Unfreeze" in page
    r = c.post("/console/accounts/merchant_payable/status/",
               {"form_key": form_key_in(page, "status-form"), "action": "unfreeze"})
    assert r.status_code == 302 and account(console_tenant, "merchant_payable").status == "open"


def test_close_needs_zero_balances(console_tenant):
    c = console_tenant.client("operator1")
    n = written(console_tenant)
    page = c.get("/console/accounts/customer_balance/").content.decode()
    r = c.post("/console/accounts/customer_balance/status/",
               {"form_key": form_key_in(page, "status-form"), "action": "close"})
    assert r.status_code == 409 and "account_has_balance" in r.content.decode()
    assert account(console_tenant, "customer_balance").status == "open"
    assert written(console_tenant) == n
    page = c.get("/console/accounts/fee_revenue/").content.decode()
    r = c.post("/console/accounts/fee_revenue/status/", {"form_key": form_key_in(page, "status-form"),
                                                          "action": "close"})
    assert r.status_code == 302 and account(console_tenant, "fee_revenue").status == "closed"


# --- refusals -------------------------------------------------------------------
def test_viewer_is_refused_every_action_and_nothing_is_written(console_tenant):
    hold = make_hold(console_tenant, amount=10_000)
    entry = make_entry(console_tenant, amount=1000)
    viewer = console_tenant.client("viewer1")
    n = written(console_tenant)
    for path, data in (
        (f"/console/holds/{hold.hold_id}/capture/", {"form_key": new_key(), "amount": "10"}),
        (f"/console/holds/{hold.hold_id}/release/", {"form_key": new_key()}),
        (f"/console/entries/{entry.posting_id}/reverse/", {"form_key": new_key()}),
        ("/console/accounts/merchant_payable/status/", {"form_key": new_key(), "action": "freeze"}),
        ("/console/accounts/fee_revenue/status/", {"form_key": new_key(), "action": "close"}),
    ):
        r = viewer.post(path, data)
        assert r.status_code == 403 and "permission_denied" in r.content.decode(), path
    assert written(console_tenant) == n
    assert hold_row(console_tenant, hold).status == "active"
    assert account(console_tenant, "merchant_payable").status == "open"
    page = viewer.get(f"/console/holds/{hold.hold_id}/").content.decode()
    assert "capture-form" not in page and "can view holds only" in page


def test_another_tenants_hold_and_entry_are_not_found(console_tenant, other_tenant):
    hold = make_hold(other_tenant, amount=10_000)
    entry = make_entry(other_tenant, amount=1000)
    c = console_tenant.client("operator1")
    n = written(console_tenant)
    for path in (f"/console/holds/{hold.hold_id}/", f"/console/entries/{entry.posting_id}/"):
        assert c.get(path).status_code == 404, path
    for path, data in ((f"/console/holds/{hold.hold_id}/capture/", {"form_key": new_key(), "amount": "1"}),
                       (f"/console/holds/{hold.hold_id}/release/", {"form_key": new_key()}),
                       (f"/console/entries/{entry.posting_id}/reverse/", {"form_key": new_key()})):
        assert c.post(path, data).status_code == 404, path
    assert written(console_tenant) == n
    assert hold_row(other_tenant, hold).status == "active"


# --- search and filters ---------------------------------------------------------
def test_search_goes_straight_to_one_result_and_groups_several(console_tenant):
    entry = make_entry(console_tenant, amount=1234, reference="order_777")
    hold = make_hold(console_tenant, amount=5000, reference="pi_777")
    c = console_tenant.client("viewer1")
    for q, target in (("order_777", f"/console/entries/{entry.posting_id}/"),
                      (entry.idempotency_key, f"/console/entries/{entry.posting_id}/"),
                      (entry.posting_id, f"/console/entries/{entry.posting_id}/"),
                      (hold.hold_id, f"/console/holds/{hold.hold_id}/"),
                      ("pi_777", f"/console/holds/{hold.hold_id}/"),
                      ("merchant_payable", "/console/accounts/merchant_payable/")):
        r = c.get("/console/search/", {"q": q})
        assert r.status_code == 302 and r["Location"] == target, q
    # Rows made in one context share its correlation id: an entry and a hold,
    # so the page lists both, grouped by kind.
    assert entry.correlation_id and entry.correlation_id == hold.correlation_id
    body = c.get("/console/search/", {"q": entry.correlation_id}).content.decode()
    assert "<h2>Entries" in body and "<h2>Holds" in body
    assert entry.posting_id in body and hold.hold_id in body
    r = c.get("/console/search/", {"q": "clearing"})
    body = r.content.decode()
    assert r.status_code == 200 and "Accounts" in body
    assert "settlement_clearing" in body and "payout_clearing" in body
    r = c.get("/console/search/", {"q": "no-such-thing-anywhere"})
    assert r.status_code == 200 and "Nothing in this tenant matches" in r.content.decode()


def test_entries_filter_by_amount_actor_and_status(console_tenant):
    small = make_entry(console_tenant, amount=1250)
    big = make_entry(console_tenant, amount=99_900)
    c = console_tenant.client("viewer1")
    body = c.get("/console/entries/", {"amount_min": "12.50", "amount_max": "12.50"}).content.decode()
    assert small.posting_id[-6:] in body and big.posting_id[-6:] not in body
    body = c.get("/console/entries/", {"amount_min": "999", "actor": "system:tests"}).content.decode()
    assert big.posting_id[-6:] in body and small.posting_id[-6:] not in body
    body = c.get("/console/entries/", {"status": "hold_capture"}).content.decode()
    assert small.posting_id[-6:] not in body and "Capture of pi_demo_1" in body
    r = c.get("/console/entries/", {"amount_min": "abc"})
    assert r.status_code == 200 and "major units" in r.content.decode()


def test_search_finds_an_event_and_a_webhook_delivery(console_tenant, settings):
    settings.WEBHOOKS_KICK_ON_COMMIT = False  # the delivery row is enough; nothing is sent
    from webhooks.models import Delivery
    from webhooks.services.endpoints import endpoint_create

    from .conftest import SETUP

    with console_tenant.schema():
        endpoint_create(url="http://127.0.0.1:9/hook", event_types=["ledger.entry.created"], actor=SETUP)
    entry = make_entry(console_tenant, amount=4200)
    with console_tenant.schema():
        event = Event.objects.get(type="ledger.entry.created", payload__id=entry.id)
        delivery = Delivery.objects.get(event=event)
    c = console_tenant.client("viewer1")
    r = c.get("/console/search/", {"q": event.public_id})
    assert r.status_code == 302 and r["Location"] == f"/console/events/?id={event.public_id}"
    page = c.get(r["Location"]).content.decode()
    assert event.public_id[-12:] in page and "ledger.entry.created" in page
    r = c.get("/console/search/", {"q": delivery.public_id})
    assert r.status_code == 302 and r["Location"] == f"/console/entries/{entry.posting_id}/"
