"""An operator reverses an entry from its evidence page (above the threshold
a second person approves it) and freezes, unfreezes and closes accounts."""
from __future__ import annotations

import pytest

from ledger.models import Account, ApprovalRequest, LedgerEntry
from tests.console.back_office import make_entry
from tests.console.conftest import THRESHOLD

from .conftest import shot, sign_out, submit

pytestmark = pytest.mark.browser


def balances(ct) -> dict[str, int]:
    with ct.schema():
        return dict(Account.objects.values_list("code", "posted_balance"))


def test_operator_reverses_an_entry_from_its_evidence(signed_in, console_tenant):
    entry = make_entry(console_tenant, amount=2500, reference="order_1001")
    before = balances(console_tenant)
    page, go = signed_in("operator1")
    go(f"/console/entries/{entry.posting_id}/")
    card = page.locator("section.corrections")
    assert "25.00 USD left to reverse" in card.inner_text()
    page.fill(".reverse-form input[name=description]", "Posted to the wrong customer")
    shot(page, "29-evidence-corrections")
    submit(page, ".reverse-form button[type=submit]")
    assert "Reversed: posted pst_" in page.inner_text(".flash")
    assert "reversal" in page.inner_text("h1")
    shot(page, "30-reversal-evidence")
    with console_tenant.schema():
        reversal = LedgerEntry.objects.get(reversal_of=entry)
        assert reversal.kind == "reversal" and reversal.actor_ref.endswith(":operator1")
    after = balances(console_tenant)
    assert after["customer_balance"] == before["customer_balance"] + 2500
    assert after["reserved_balance"] == before["reserved_balance"] - 2500
    go(f"/console/entries/{entry.posting_id}/")
    assert "Fully reversed" in page.inner_text("section.corrections")


def test_big_reversal_waits_for_an_approver(signed_in, console_tenant):
    entry = make_entry(console_tenant, amount=THRESHOLD + 25_000)
    before = balances(console_tenant)
    page, go = signed_in("operator1")
    go(f"/console/entries/{entry.posting_id}/")
    submit(page, ".reverse-form button[type=submit]")
    assert "/console/approvals/apr_" in page.url
    assert "waits for a second person" in page.inner_text(".flash")
    assert "Reversal" in page.inner_text("h1") and entry.posting_id in page.inner_text("main")
    shot(page, "31-reversal-approval-requested")
    with console_tenant.schema():
        assert not LedgerEntry.objects.filter(reversal_of=entry).exists()
    sign_out(page)

    page, go = signed_in("approver1")
    go("/console/approvals/")
    page.click("a.mono[href^='/console/approvals/apr_']")
    page.wait_for_load_state("networkidle")
    page.fill("textarea[name=note]", "Customer complaint 88 checked")
    submit(page, "text=Approve and post")
    assert "Approved; posted" in page.inner_text(".flash")
    shot(page, "32-reversal-approved")
    with console_tenant.schema():
        reversal = LedgerEntry.objects.get(reversal_of=entry)
        assert reversal.actor_ref.endswith(":approver1")
        assert ApprovalRequest.objects.get(entry=reversal).kind == "reversal"
    after = balances(console_tenant)
    assert after["customer_balance"] == before["customer_balance"] + THRESHOLD + 25_000


def test_operator_freezes_unfreezes_and_closes_accounts(signed_in, console_tenant):
    page, go = signed_in("operator1")
    go("/console/accounts/merchant_payable/")
    submit(page, ".status-form button[value=freeze]")
    assert "Frozen" in page.inner_text(".flash") and "frozen" in page.inner_text("h1")
    shot(page, "33-account-frozen")
    with console_tenant.schema():
        assert Account.objects.get(code="merchant_payable").status == "frozen"
    submit(page, ".status-form button[value=unfreeze]")
    assert "open" in page.inner_text("h1")
    with console_tenant.schema():
        assert Account.objects.get(code="merchant_payable").status == "open"

    # An account with money in it cannot be closed; an empty one can.
    go("/console/accounts/customer_balance/")
    submit(page, ".status-form button[value=close]")
    assert "account_has_balance" in page.inner_text("main") and "open" in page.inner_text("h1")
    go("/console/accounts/fee_revenue/")
    submit(page, ".status-form button[value=close]")
    assert "Closed" in page.inner_text(".flash") and page.locator(".status-form").count() == 0
    shot(page, "34-account-closed")
    with console_tenant.schema():
        assert Account.objects.get(code="customer_balance").status == "open"
        assert Account.objects.get(code="fee_revenue").status == "closed"
