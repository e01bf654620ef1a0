"""The console driven in real headless Chromium (see tests/console/browser.py).
Screenshots of the main pages land in test-artifacts/console/."""
from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from django_tenants.utils import schema_context

from ledger.models import Account, ApprovalRequest, IdempotencyRecord, LedgerEntry
from tests.providers.conftest import console_books
from users.models import User

from .browser import console_url, shot, sign_in, sign_out
from .conftest import PASSWORD, THRESHOLD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}
SUBMIT_TWICE = """async (form) => {
  const out = [];
  for (let i = 0; i < 2; i++) {
    const r = await fetch("/console/new-entry/", {method: "POST", body: new URLSearchParams(form),
                                                 credentials: "same-origin"});
    out.push({status: r.status, url: new URL(r.url).pathname, text: await r.text()});
  }
  return out;
}"""
FORGED_POST = """async (form) => {
  const r = await fetch("/console/new-entry/", {method: "POST", body: new URLSearchParams(form),
                                               credentials: "same-origin"});
  return {status: r.status, text: await r.text()};
}"""


def posted(ct, code: str) -> int:
    with ct.schema():
        return Account.objects.get(code=code).posted_balance


def tile_value(page, label: str) -> str:
    return page.locator(".tile", has_text=label).locator(".tile-value").inner_text().strip()


def test_operator_posts_sees_balances_move_and_opens_evidence(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    assert page.url.endswith("/console/") and "Acme Payments" in page.inner_text(".sidebar")
    shot(page, "01-overview")
    page.goto(console_url(console_tenant, port, "/console/accounts/"))
    shot(page, "02-accounts")
    page.goto(console_url(console_tenant, port, "/console/accounts/customer_balance/"))
    assert tile_value(page, "Posted") == "3,750.00"

    page.goto(console_url(console_tenant, port, "/console/new-entry/"))
    page.select_option("select[name=debit]", "customer_balance")
    page.select_option("select[name=credit]", "reserved_balance")
    page.fill("input[name=amount_minor]", "2500")
    page.fill("input[name=description]", "Reserve for order 1001")
    page.fill("input[name=external_reference]", "order_1001")
    key = page.input_value("input[name=idempotency_key]")
    shot(page, "03-new-entry")
    page.click("text=Post entry")
    page.wait_for_load_state("networkidle")
    assert "/console/entries/pst_" in page.url
    assert page.locator(".msg.success").inner_text().startswith("Posted pst_")
    assert key in page.inner_text("main") and "−2500 mu" in page.locator("svg.flow").first.text_content()
    shot(page, "04-evidence")

    page.goto(console_url(console_tenant, port, "/console/accounts/customer_balance/"))
    assert tile_value(page, "Posted") == "3,725.00"
    assert page.locator("svg.chart").count() == 1
    shot(page, "05-account")
    assert posted(console_tenant, "customer_balance") == 375_000 - 2500

    # The seed's movement: evidence of led_8172 draws Customer -> Reserved -> Settlement -> Merchant -> Payout.
    with console_tenant.schema():
        seed = LedgerEntry.objects.get(idempotency_key="led_8172")
    page.goto(console_url(console_tenant, port, f"/console/entries/{seed.posting_id}/"))
    flow = page.locator("svg.flow").nth(1).text_content()
    for name in ("Customer balances", "Reserved for payments", "Settlement clearing", "Merchant payable",
                 "Payouts in flight"):
        assert name in flow
    shot(page, "06-evidence-seed-flow")
    ctx.close()


def test_double_submit_from_the_browser_posts_once(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/new-entry/"))
    form = {
        "csrfmiddlewaretoken": page.input_value("input[name=csrfmiddlewaretoken]"),
        "idempotency_key": page.input_value("input[name=idempotency_key]"),
        "debit": "customer_balance", "credit": "reserved_balance", "amount_minor": "777",
        "description": "double click", "external_reference": "", "source_event": "",
    }
    # Two submits of the same rendered form, sent by the page itself (its
    # cookies, its origin), as a double click that got through would be.
    first, second = page.evaluate(SUBMIT_TWICE, form)
    assert first["status"] == second["status"] == 200
    assert first["url"] == second["url"] and "/console/entries/pst_" in first["url"]
    assert "already submitted" in second["text"]
    with console_tenant.schema():
        assert LedgerEntry.objects.filter(idempotency_key=form["idempotency_key"]).count() == 1
        assert IdempotencyRecord.objects.get(key=form["idempotency_key"]).replay_count == 1
    ctx.close()


def test_maker_checker_second_user_approves(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/new-entry/"))
    page.select_option("select[name=debit]", "customer_balance")
    page.select_option("select[name=credit]", "reserved_balance")
    page.fill("input[name=amount_minor]", str(THRESHOLD + 50_000))
    page.fill("input[name=description]", "Manual refund reserve, case 4411")
    key = page.input_value("input[name=idempotency_key]")
    page.click("text=Post entry")
    page.wait_for_load_state("networkidle")
    assert "/console/approvals/apr_" in page.url
    assert "Above the approval threshold" in page.inner_text(".flash")
    assert "You requested this change" in page.inner_text("main")
    assert page.locator("text=Approve and post").count() == 0
    shot(page, "07-approval-requested")
    before = posted(console_tenant, "customer_balance")
    sign_out(page)

    sign_in(page, console_tenant, port, "approver1", PASSWORD)
    assert page.locator(".nav-badge").inner_text() == "1"
    page.goto(console_url(console_tenant, port, "/console/approvals/"))
    shot(page, "08-approvals-queue")
    page.click("a.mono[href^='/console/approvals/apr_']")
    page.fill("textarea[name=note]", "Checked against case 4411")
    shot(page, "09-approval-decide")
    page.click("text=Approve and post")
    page.wait_for_load_state("networkidle")
    assert "/console/entries/pst_" in page.url
    main = page.inner_text("main")
    assert "Approved; posted" in main and "Maker-checker" in main and "operator1" in main and "approver1" in main
    shot(page, "10-evidence-approved")
    assert posted(console_tenant, "customer_balance") == before - (THRESHOLD + 50_000)
    with console_tenant.schema():
        entry = LedgerEntry.objects.get(idempotency_key=key)
        assert entry.actor_ref.endswith(":approver1") and entry.metadata["approval"]["requested_by"].endswith(":operator1")
        assert ApprovalRequest.objects.get(idempotency_key=key).status == "posted"
    ctx.close()


def test_compliance_exports_the_audit_csv(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "compliance1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/audit/"))
    page.select_option("select[name=action]", "account.created")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "action=account.created" in page.url
    assert "account.created" in page.inner_text("table.data")
    page.goto(console_url(console_tenant, port, "/console/audit/"))
    shot(page, "11-audit")
    page.click("#export")
    page.wait_for_load_state("networkidle")
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename.startswith(f"zentra-{console_tenant.tenant.slug}-audit_events-")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][:5] == ["id", "occurred_at", "actor_kind", "actor_ref", "action"]
    actions = {r[4] for r in rows[1:]}
    assert {"account.created", "policy.created", "ledger_entry.posted"} <= actions
    ctx.close()


def test_viewer_cannot_post(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "viewer1", PASSWORD)
    assert page.locator("nav.nav >> text=New entry").count() == 0
    assert page.locator("text=New entry").count() == 0
    resp = page.goto(console_url(console_tenant, port, "/console/new-entry/"))
    assert resp.status == 403 and "Nothing was changed" in page.inner_text("main")
    shot(page, "12-viewer-403")
    # A forged post with a valid CSRF token from another page is still refused.
    page.goto(console_url(console_tenant, port, "/console/"))
    token = page.input_value("form.userbox input[name=csrfmiddlewaretoken]")
    with console_tenant.schema():
        n = LedgerEntry.objects.count()
    r = page.evaluate(FORGED_POST, {
        "csrfmiddlewaretoken": token, "idempotency_key": f"con_{uuid.uuid4().hex}", "debit": "customer_balance",
        "credit": "reserved_balance", "amount_minor": "100"})
    assert r["status"] == 403 and "Nothing was changed" in r["text"]
    with console_tenant.schema():
        assert LedgerEntry.objects.count() == n
    ctx.close()


def test_tenant_a_user_cannot_open_tenant_b(browser, console_server, console_tenant, other_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    with other_tenant.schema():
        b_entry = LedgerEntry.objects.get(idempotency_key="led_8172")
        User.objects.filter(username="operator1").update(username="b_operator")
    # B's console does not know A's session: it asks to sign in, and A's credentials do not work there.
    page.goto(console_url(other_tenant, port, f"/console/entries/{b_entry.posting_id}/"))
    assert "/console/login/" in page.url and "Globex Wallets" in page.inner_text("body")
    page.fill("input[name=username]", "operator1")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/console/login/" in page.url and "didn't match" in page.inner_text("body")
    # On A's host, B's posting id is simply not there.
    resp = page.goto(console_url(console_tenant, port, f"/console/entries/{b_entry.posting_id}/"))
    assert resp.status == 404 and "no such entry in this tenant" in page.inner_text("main")
    shot(page, "13-other-tenant-404")
    ctx.close()


def test_rejection_policies_platform_and_admin_screens(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "admin1", PASSWORD)
    # A policy rejection, explained with numbers, and its evidence.
    # The customer has 375,000 mu; 99,000 is below the threshold, so each posts at
    # once until the fourth finds only 78,000 available.
    for i in range(4):
        page.goto(console_url(console_tenant, port, "/console/new-entry/"))
        page.select_option("select[name=debit]", "customer_balance")
        page.select_option("select[name=credit]", "reserved_balance")
        page.fill("input[name=amount_minor]", "99000")
        page.fill("input[name=description]", f"Reserve batch {i + 1}")
        page.click("text=Post entry")
        page.wait_for_load_state("networkidle")
    assert "Not posted" in page.inner_text("main") and "no_overdraft" in page.inner_text("main")
    shot(page, "14-policy-rejected-form")
    page.click("text=See the evidence")
    page.wait_for_load_state("networkidle")
    assert "Why it was rejected" in page.inner_text("main")
    shot(page, "15-evidence-rejected")
    page.goto(console_url(console_tenant, port, "/console/policies/"))
    shot(page, "16-policies")
    page.goto(console_url(console_tenant, port, "/console/events/"))
    shot(page, "17-events")
    # Support admin on the tenant host: read-only ledger.
    page.goto(console_url(console_tenant, port, "/admin/ledger/ledgerentry/"))
    if "/admin/login/" in page.url:
        page.fill("input[name=username]", "admin1")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_load_state("networkidle")
    assert "Select ledger entry to view" in page.inner_text("body")
    shot(page, "18-admin-entries")
    ctx.close()

    # Platform staff on the public host create a tenant.
    with schema_context("public"):
        staff = User.objects.create_user(username=f"ops_{uuid.uuid4().hex[:6]}", password=PASSWORD, is_staff=True)
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.goto(f"http://localhost:{port}/console/login/")
    page.fill("input[name=username]", staff.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/console/platform/")
    slug = f"init{uuid.uuid4().hex[:6]}"
    page.fill("input[name=slug]", slug)
    page.fill("input[name=name]", "Initech Pay")
    page.fill("input[name=admin_username]", "founder")
    page.fill("input[name=admin_password]", "a-long-password-1")
    page.click("text=Create tenant")
    page.wait_for_load_state("networkidle")
    assert f"Tenant {slug} created" in page.inner_text(".flash")
    shot(page, "19-platform")
    ctx.close()
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.goto(f"http://{slug}.localhost:{port}/console/login/")
    shot(page, "00-login")
    page.fill("input[name=username]", "founder")
    page.fill("input[name=password]", "a-long-password-1")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert re.search(r"/console/$", page.url) and "Initech Pay" in page.inner_text(".sidebar")
    ctx.close()


def test_operator_replays_from_the_inbound_page_in_a_browser(browser, console_server, tenant_factory):
    ct = console_books(tenant_factory)
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    sign_in(page, ct, console_server.port, "operator1", PASSWORD)
    page.goto(console_url(ct, console_server.port, "/console/inbound/?provider=stripe"))
    assert page.locator("table.data tbody tr").count() == 3
    shot(page, "inbound")
    row = page.locator("table.data tbody tr", has_text="new transition under")
    with page.expect_navigation():
        row.locator("button", has_text="Replay").click()
    assert "Replayed" in page.inner_text("body") and "nothing new was posted" in page.inner_text("body")
    with ct.schema():
        assert LedgerEntry.objects.filter(external_reference="pi_console").count() == 1  # replay posted nothing


# --- closeout ---------------------------------------------------------------------------------
def test_close_download_reopen_with_a_second_person(browser, console_server, console_tenant):
    """An admin closes a period and downloads its sealed trial balance, asks to
    reopen it, and an approver agrees; the balance-change page explains an
    account. (Lives here: the session's Chromium fixtures are this module's.)"""
    import datetime as dt

    from core.actors import Actor
    from closeout.models import AccountingPeriod
    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post

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
    period_page = page.url
    page.click("#export")
    page.wait_for_load_state("networkidle")
    with page.expect_download() as info:
        page.click("#download")
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["period", "start_at", "end_at", "account"]
    reserved = next(r for r in rows[1:] if r[3] == "reserved_balance")
    assert reserved[8] == "4200"  # credits_minor
    page.goto(period_page)
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
