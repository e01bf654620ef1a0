"""One search box in the header of every page finds what the operator pastes;
the entries list filters by amount in major units."""
from __future__ import annotations

import pytest

from tests.console.back_office import make_entry, make_hold

from .conftest import shot

pytestmark = pytest.mark.browser


def search(page, q: str) -> None:
    page.fill("form.searchbox input[name=q]", q)
    page.press("form.searchbox input[name=q]", "Enter")
    page.wait_for_load_state("networkidle")


def test_search_box_finds_entries_accounts_and_holds(signed_in, console_tenant):
    entry = make_entry(console_tenant, amount=1250, reference="order_4242")
    hold = make_hold(console_tenant, amount=5_000, reference="pi_4242")
    page, go = signed_in("viewer1")
    go("/console/policies/")  # the box is in every page's header
    search(page, "order_4242")
    assert page.url.endswith(f"/console/entries/{entry.posting_id}/")
    search(page, entry.idempotency_key)
    assert page.url.endswith(f"/console/entries/{entry.posting_id}/")
    search(page, hold.hold_id)
    assert page.url.endswith(f"/console/holds/{hold.hold_id}/")
    search(page, "Merchant payable")
    assert page.url.endswith("/console/accounts/merchant_payable/")

    # Several matches: a page grouped by kind.
    search(page, entry.correlation_id)
    headings = page.locator("section.search-group h2").all_inner_texts()
    assert any(h.startswith("Entries") for h in headings) and any(h.startswith("Holds") for h in headings)
    shot(page, "40-search-results")
    search(page, "nothing-like-this")
    assert "Nothing in this tenant matches" in page.inner_text("main")


def test_entries_filter_by_amount_in_major_units(signed_in, console_tenant):
    small = make_entry(console_tenant, amount=1250)
    big = make_entry(console_tenant, amount=80_000)
    page, go = signed_in("viewer1")
    go("/console/entries/")
    page.fill("input[name=amount_min]", "12.50")
    page.fill("input[name=amount_max]", "12.50")
    page.fill("input[name=actor]", "system:tests")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    table = page.inner_text("main table")
    assert small.posting_id[-8:] in page.content() and big.posting_id[-8:] not in page.content()
    assert "12.50" in table
    shot(page, "41-entries-filtered")
