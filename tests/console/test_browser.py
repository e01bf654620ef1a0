"""The console driven in real headless Chromium (see tests/console/browser.py)."""
from __future__ import annotations

import pytest

from ledger.models import Account, ApprovalRequest, LedgerEntry

from .browser import browser, console_server, console_url, shot, sign_in, sign_out  # noqa: F401
from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_operator_posts_and_sees_balances_move_and_evidence(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    assert page.url.endswith("/console/")
    shot(page, "01-overview")
    page.goto(console_url(console_tenant, port, "/console/accounts/"))
    shot(page, "02-accounts")
    page.goto(console_url(console_tenant, port, "/console/new-entry/"))
    page.select_option("select[name=debit]", "customer_balance")
    page.select_option("select[name=credit]", "reserved_balance")
    page.fill("input[name=amount_minor]", "2500")
    page.fill("input[name=description]", "Reserve for order 1001")
    page.fill("input[name=external_reference]", "order_1001")
    shot(page, "03-new-entry")
    page.click("text=Post entry")
    page.wait_for_load_state("networkidle")
    assert "/console/entries/pst_" in page.url
    assert page.locator(".msg.success").inner_text().startswith("Posted pst_")
    shot(page, "04-evidence")
    page.goto(console_url(console_tenant, port, "/console/accounts/customer_balance/"))
    shot(page, "05-account")
    ctx.close()
