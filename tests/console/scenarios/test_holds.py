"""An operator finds a hold, captures part of it, then releases the rest;
the hold's evidence names its real state."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ledger.models import Account, Hold, LedgerEntry
from tests.console.back_office import make_hold

from .conftest import shot, submit

pytestmark = pytest.mark.browser


def test_operator_captures_part_of_a_hold_then_releases_the_rest(signed_in, console_tenant):
    hold = make_hold(console_tenant, amount=50_000, reference="pi_ship_1",
                     expires_at=timezone.now() + dt.timedelta(hours=6))
    later = make_hold(console_tenant, amount=9_000, reference="pi_later", expires_at=timezone.now() + dt.timedelta(days=5))
    page, go = signed_in("operator1")

    # The holds page, filtered to open holds on the customer's account.
    go("/console/")
    submit(page, "nav.nav >> text=Holds")
    page.select_option("select[name=status]", "open")
    page.fill("input[name=account]", "customer_balance")
    submit(page, "form.filters button[type=submit]")
    rows = page.locator("table.holds tbody tr")
    assert rows.count() == 2
    # Expiring soon: only the hold that ends within 24 hours.
    submit(page, "text=Expiring in 24 h")
    rows = page.locator("table.holds tbody tr")
    assert rows.count() == 1 and "500.00" in rows.first.inner_text() and "Active" in rows.first.inner_text()
    assert later.hold_id[-8:] not in page.content()
    shot(page, "20-holds")

    # Its page: state path, capture 120.50 of it.
    rows.first.locator("a.mono").click()
    page.wait_for_load_state("networkidle")
    assert hold.hold_id in page.inner_text("h1")
    page.fill(".capture-form input[name=amount]", "120.50")
    submit(page, ".capture-form button[type=submit]")
    assert "Captured 120.50 USD into reserved_balance" in page.inner_text(".flash")
    assert "Partially Captured" in page.inner_text("h1")
    path = page.locator("ol.holdpath li")
    assert [path.nth(i).get_attribute("data-kind") for i in range(path.count() - 1)] == ["created", "captured"]
    assert "120.50 USD" in path.nth(1).inner_text()
    shot(page, "21-hold-partially-captured")
    with console_tenant.schema():
        h = Hold.objects.get(pk=hold.pk)
        assert (h.status, h.captured_minor, h.remaining_minor) == ("partially_captured", 12_050, 37_950)
        assert LedgerEntry.objects.filter(kind="hold_capture", metadata__hold_id=hold.hold_id).count() == 1

    # A capture larger than what remains comes back with the reason; nothing changes.
    page.fill(".capture-form input[name=amount]", "400")
    submit(page, ".capture-form button[type=submit]")
    assert "only reserves 379.50 USD" in page.inner_text("main")
    with console_tenant.schema():
        assert Hold.objects.get(pk=hold.pk).captured_minor == 12_050

    # Release the rest.
    page.fill(".release-form input[name=reason]", "Second item out of stock")
    submit(page, ".release-form button[type=submit]")
    assert "Released 379.50 USD" in page.inner_text(".flash")
    assert "Released" in page.inner_text("h1") and page.locator(".capture-form").count() == 0
    kinds = [li.get_attribute("data-kind") for li in page.locator("ol.holdpath li").all()]
    assert kinds == ["created", "captured", "released"]
    shot(page, "22-hold-released")
    with console_tenant.schema():
        h = Hold.objects.get(pk=hold.pk)
        assert (h.status, h.captured_minor, h.released_minor) == ("released", 12_050, 37_950)
        assert Account.objects.get(code="customer_balance").pending_balance == later.amount_minor

    # The hold's evidence names what the request did and the hold's state.
    submit(page, ".page-head .actions >> text=Evidence")
    main = page.inner_text("main")
    assert "Held" in page.inner_text("ol.statepath") and "Rejected" not in main
    assert "now released" in page.inner_text("ol.statepath")
    shot(page, "23-hold-evidence")


def test_active_hold_evidence_and_account_panel(signed_in, console_tenant):
    hold = make_hold(console_tenant, amount=7_500)
    page, go = signed_in("viewer1")
    go(f"/console/evidence/?key={hold.idempotency_key}")
    steps = page.inner_text("ol.statepath")
    assert "Held" in steps and "now active" in steps and "Rejected" not in page.inner_text("main")
    assert "Active" in page.inner_text("main")

    # The account page lists the account's holds and links to the holds page.
    go("/console/accounts/customer_balance/")
    panel = page.locator("section.card", has_text="Holds (1 open)")
    assert panel.count() == 1 and hold.hold_id[-6:] in panel.inner_text()
    shot(page, "24-account-holds-panel")
    panel.locator("text=All holds on this account").click()
    page.wait_for_load_state("networkidle")
    assert "account=customer_balance" in page.url and page.locator("table.holds tbody tr").count() == 3
    # A viewer sees no capture or release buttons.
    page.locator(f"a[href='/console/holds/{hold.hold_id}/']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".capture-form").count() == 0 and "can view holds only" in page.inner_text("main")
