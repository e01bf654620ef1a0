"""Every console page renders for a role allowed to see it, with the data
the spec asks for."""
from __future__ import annotations

import pytest

from ledger.models import LedgerEntry

from .conftest import entry_form


def test_overview_shows_balances_volume_approvals_and_recent_entries(console_tenant):
    c = console_tenant.client("admin1")
    html = c.get("/console/").content.decode()
    assert "Balances by currency" in html and "USD" in html and "balanced" in html
    assert "Pending approvals" in html and "Recent entries" in html
    # The seed's flow is posted: 5 entries, 500,000 + 4 x 125,000 minor units of debits today.
    assert "1,000,000.00" not in html and "10,000.00" in html  # volume today = 1,000,000 mu = 10,000.00 USD
    assert "Failing webhooks" in html


def test_accounts_list_filters(console_tenant):
    c = console_tenant.client("viewer1")
    html = c.get("/console/accounts/").content.decode()
    for code in ("bank_usd", "customer_balance", "reserved_balance", "settlement_clearing", "merchant_payable"):
        assert code in html
    # customer_balance: 500,000 funded - 125,000 reserved = 375,000 mu.
    assert "3,750.00" in html
    html = c.get("/console/accounts/?code=merchant").content.decode()
    assert "merchant_payable" in html and "customer_balance" not in html
    html = c.get("/console/accounts/?kind=revenue").content.decode()
    assert "fee_revenue" in html and "bank_usd" not in html
    html = c.get("/console/accounts/?status=frozen").content.decode()
    assert "No accounts match" in html


def test_account_detail_has_statement_running_balance_and_chart(console_tenant):
    c = console_tenant.client("viewer1")
    r = c.get("/console/accounts/customer_balance/")
    html = r.content.decode()
    assert r.status_code == 200
    assert "<svg" in html and 'class="chart"' in html
    assert "Balance after" in html and "5,000.00" in html and "3,750.00" in html
    assert "no_overdraft" in html
    r = c.get("/console/accounts/customer_balance/?start=2001-01-01T00:00&end=2000-01-01T00:00")
    assert "after" in r.content.decode()  # the inverted-range message, not a 500


def test_evidence_page_shows_the_whole_state_path(console_tenant):
    c = console_tenant.client("operator1")
    with console_tenant.schema():
        seed = LedgerEntry.objects.get(idempotency_key="led_8172")
    html = c.get(f"/console/entries/{seed.posting_id}/").content.decode()
    for needle in (seed.posting_id, "led_8172", seed.request_hash, "State path", "Received", "Boundary", "Policies",
                   "Posted", "Events", "Deliveries", "ledger.entry.created", "Customer balances", "−125000 mu",
                   "+125000 mu", "Follow the money", "Settlement clearing", "Payouts in flight", "Capture of pi_demo_1",
                   "ledger_entry.posted", "account_status", "Balance after"):
        assert needle in html, needle
    # by numeric id too
    assert c.get(f"/console/entries/{seed.id}/").status_code == 200


def test_entries_list_and_filters(console_tenant):
    c = console_tenant.client("viewer1")
    html = c.get("/console/entries/").content.decode()
    assert html.count("pst_") >= 5
    html = c.get("/console/entries/?idempotency_key=led_8172").content.decode()
    assert "Capture of pi_demo_1" in html and "Customer top-up" not in html
    html = c.get("/console/entries/?account=payout_clearing").content.decode()
    assert "Payout po_demo_1" in html and "Customer top-up" not in html
    assert c.get("/console/entries/?account=nope").status_code == 404


def test_policies_events_and_approvals_pages(console_tenant):
    c = console_tenant.client("admin1")
    html = c.get("/console/policies/").content.decode()
    assert "four_eyes" in html and "threshold_minor=100000" in html and "no_overdraft" in html
    assert "New policy" in html  # admin may edit
    assert "New policy" not in console_tenant.client("viewer1").get("/console/policies/").content.decode()
    html = c.get("/console/events/").content.decode()
    assert "ledger.entry.created" in html and "policy.created" in html
    assert "Nothing waits" in c.get("/console/approvals/").content.decode()


@pytest.mark.parametrize("path", ["/console/entries/pst_doesnotexist/", "/console/accounts/nope/",
                                  "/console/approvals/apr_nope/", "/console/evidence/?key=nope",
                                  "/console/no-such-page/"])
def test_unknown_things_are_a_styled_404(console_tenant, path):
    r = console_tenant.client("viewer1").get(path)
    assert r.status_code == 404
    assert "text/html" in r["Content-Type"] and "Back to the console" in r.content.decode()


def test_manual_entry_form_renders_with_a_fresh_key_each_time(console_tenant):
    c = console_tenant.client("operator1")
    a = c.get("/console/new-entry/").content.decode()
    b = c.get("/console/new-entry/").content.decode()
    import re
    ka = re.search(r'name="idempotency_key" value="(con_[0-9a-f]+)"', a).group(1)
    kb = re.search(r'name="idempotency_key" value="(con_[0-9a-f]+)"', b).group(1)
    assert ka != kb
    assert "customer_balance" in a
    r = c.post("/console/new-entry/", entry_form())
    assert r.status_code == 302
