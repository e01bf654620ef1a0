"""Closeout in real headless Chromium: an admin closes a period and downloads
its sealed trial balance, asks to reopen it, and an approver agrees; the
balance-change page explains an account (see tests/console/browser.py)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from audit.actors import Actor
from closeout.models import AccountingPeriod
from ledger.services.boundary import request_hash
from ledger.services.entries import LineSpec, entry_post

from .browser import browser, console_server, console_url, shot, sign_in, sign_out  # noqa: F401
from .conftest import PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}


def test_close_download_reopen_with_a_second_person(browser, console_server, console_tenant):
    with console_tenant.schema():
        out = entry_post(
            actor=Actor.system("tests"), tenant=console_tenant.tenant.slug, idempotency_key="jul-backdated",
            req_hash=request_hash(operation="t", payload="jul"), source_event="invoice.paid:INV-7",
            effective_at=dt.datetime(2025, 7, 14, 9, 30, tzinfo=dt.timezone.utc),
            lines=[LineSpec(account="customer_balance", side="debit", amount_minor=4_200, currency="USD"),
                   LineSpec(account="reserved_balance", side="credit", amount_minor=4_200, currency="USD")])
        assert out.status == 201
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "admin1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/periods/"))
    page.fill("input[name=go]", "2025-07")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/console/periods/2025-07/")
    assert page.inner_text("#period-status") == "open"
    assert "reserved_balance" in page.inner_text("#trial-balance")
    page.click("#close-period")
    page.wait_for_load_state("networkidle")
    assert "is closed" in page.inner_text(".flash")
    assert page.inner_text("#period-status") == "closed" and page.inner_text("#ties-out") == "ties out"
    shot(page, "20-period-closed-trial-balance")
    with page.expect_download() as info:
        page.click("#csv")
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["period", "start_at", "end_at", "account"]
    reserved = next(r for r in rows[1:] if r[3] == "reserved_balance")
    assert reserved[8] == "4200"  # credits_minor
    page.fill("#reopen-reason", "Supplier invoice INV-9 arrived late")
    page.click("#request-reopen")
    page.wait_for_load_state("networkidle")
    assert "a different person must approve" in page.inner_text(".flash")
    assert "You asked for this" in page.inner_text("main")
    sign_out(page)

    sign_in(page, console_tenant, port, "approver1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/periods/"))
    assert "Supplier invoice INV-9" in page.inner_text("main")
    shot(page, "21-periods-reopen-waiting")
    page.click("a[href='/console/periods/2025-07/']")
    page.wait_for_load_state("networkidle")
    page.click("#approve-reopen")
    page.wait_for_load_state("networkidle")
    assert "is open again" in page.inner_text(".flash")
    assert page.inner_text("#period-status") == "open"
    with console_tenant.schema():
        p = AccountingPeriod.objects.get(name="2025-07")
        assert p.status == "open" and p.reopen_count == 1

    page.goto(console_url(console_tenant, port,
                          "/console/accounts/reserved_balance/changes/?from=2020-01-01&to=2100-01-01"))
    main = page.inner_text("main")
    assert "invoice.paid:INV-7" in main and "Why did" in main
    page.click("#changes a.mono >> nth=-1")
    page.wait_for_load_state("networkidle")
    assert "/console/entries/pst_" in page.url
    page.go_back()
    shot(page, "22-why-did-this-balance-change")
    ctx.close()
