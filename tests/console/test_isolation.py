"""Another tenant's ids in URLs and forms find nothing and change nothing."""
from __future__ import annotations

from ledger.models import ApprovalRequest, LedgerEntry

from .conftest import THRESHOLD, entry_form
from .test_approvals import decide, submit_big
from .test_manual_entry import counts


def test_tenant_b_ids_are_not_found_on_tenant_a(console_tenant, other_tenant):
    form, b_approval = submit_big(other_tenant)
    with other_tenant.schema():
        b_entry = LedgerEntry.objects.get(idempotency_key="led_8172")
    a = console_tenant.client("admin1")
    for path in (f"/console/entries/{b_entry.posting_id}/", f"/console/approvals/{b_approval}/",
                 f"/console/evidence/?key={form['idempotency_key']}"):
        r = a.get(path)
        assert r.status_code == 404, path
        assert "in this tenant" in r.content.decode()


def test_deciding_tenant_b_approval_from_tenant_a_changes_nothing(console_tenant, other_tenant):
    _, b_approval = submit_big(other_tenant)
    approver = console_tenant.client("approver1")  # signing in is audited: before the counts
    before_a, before_b = counts(console_tenant), counts(other_tenant)
    r = decide(approver, b_approval, "approve", key="dec_cross_tenant")
    assert r.status_code == 404
    assert counts(console_tenant) == before_a and counts(other_tenant) == before_b
    with other_tenant.schema():
        assert ApprovalRequest.objects.get(public_id=b_approval).status == "pending"


def test_same_form_key_in_two_tenants_is_two_separate_requests(console_tenant, other_tenant):
    form = entry_form(amount=THRESHOLD)
    ra = console_tenant.client("operator1").post("/console/new-entry/", form)
    rb = other_tenant.client("operator1").post("/console/new-entry/", form)
    assert ra.status_code == rb.status_code == 302 and ra["Location"] != rb["Location"]


def test_b_accounts_cannot_be_posted_to_from_a(console_tenant, other_tenant):
    with other_tenant.schema():
        from ledger.services.accounts import account_create
        from .conftest import SETUP

        account_create(actor=SETUP, code="b_only_wallet", name="B only", currency="USD", normal_side="credit",
                       kind="liability")
    operator = console_tenant.client("operator1")  # signing in is audited: before the counts
    n = counts(console_tenant)
    r = operator.post("/console/new-entry/", entry_form(credit="b_only_wallet"))
    assert r.status_code == 400 and counts(console_tenant) == n
