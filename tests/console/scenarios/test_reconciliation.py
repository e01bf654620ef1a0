"""Reconciliation as an operator does it, in real headless Chromium against
the live server and a real Celery worker: upload a statement, watch the
matching finish, read the breaks, pair one by hand, ask for an adjusting
entry that a different person approves."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from ledger.models import Account, ApprovalRequest, EntryKind, LedgerEntry
from reconciliation.models import ItemKind, ItemStatus, ReconciliationItem, ReconciliationRun
from tests.console.browser import console_url, shot, sign_in, sign_out
from tests.console.conftest import PASSWORD
from tests.reconciliation.conftest import T0, csv_text, make_books

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 1000}
H = dt.timedelta(hours=1)


def wait_for_breaks(page, timeout: float = 90) -> list[str]:
    """The run page refreshes itself while the worker matches; collect what
    it showed on the way."""
    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        try:
            seen.append(page.inner_text("#run-status"))
            if page.locator("#breaks").count():
                return seen
        except Exception:  # noqa: BLE001 - the page is reloading under us
            pass
        page.wait_for_timeout(500)
    raise AssertionError(f"the run page never showed the breaks: {seen}")


def test_operator_reconciles_a_statement_and_an_approver_posts_the_adjustment(
        browser, console_server, console_tenant, celery_worker_proc, tmp_path):
    ct, port = console_tenant, console_server.port
    books = make_books(ct.provisioned)
    books.post(amount=2000, reference="ch_ok", at=T0)
    books.post(amount=1000, reference="ch_drift", at=T0 + H)
    order = books.post(amount=1500, reference="order_77", at=T0 + 5 * H)  # the provider calls it ch_new
    statement = tmp_path / "stripe-march.csv"
    statement.write_text(csv_text([("ch_ok", 2000, "USD", T0, "Order 1"),
                                   ("ch_drift", 1010, "USD", T0 + H, "Order 2, fee changed"),
                                   ("ch_new", 1500, "USD", T0 + 5 * H, "Order 77")]))

    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, ct, port, "operator1", PASSWORD)
    page.click("nav >> text=Reconciliation")
    page.click("text=Upload a statement")
    page.set_input_files("input[name=file]", str(statement))
    page.select_option("select[name=format]", "generic_csv")
    page.select_option("select[name=account]", "stripe_usd")
    shot(page, "recon-01-upload")
    page.click("form button[type=submit]:has-text('Upload and match')")
    page.wait_for_load_state("domcontentloaded")
    assert "/console/reconciliation/" in page.url
    assert "3 lines; matching has started" in page.inner_text(".flash")
    seen = wait_for_breaks(page)
    assert seen[-1] == "completed" and set(seen) <= {"pending", "processing", "completed"}
    with ct.schema():
        run = ReconciliationRun.objects.get()
        assert (run.status, run.lines_processed, run.lines_total) == ("completed", 3, 3)
        assert run.counts["matched"] == 1 and run.counts["amount_drift"] == 1
    assert page.inner_text("#tile-read") == "3" and page.inner_text("#tile-matched") == "1"
    assert page.inner_text("#tile-open") == "3"
    drift_row = page.inner_text("#breaks tr[data-kind=amount_drift]")
    assert "0.10" in drift_row and "USD" in drift_row
    assert "15.00" in page.inner_text("#breaks tr[data-kind=missing_in_ledger]")
    assert "15.00" in page.inner_text("#breaks tr[data-kind=missing_at_provider]")
    shot(page, "recon-02-run-breaks")

    # Pair the statement's ch_new with the ledger's order_77 by hand.
    with ct.schema():
        new_line = ReconciliationItem.objects.get(run=run, kind=ItemKind.MISSING_IN_LEDGER)
        drift = ReconciliationItem.objects.get(run=run, kind=ItemKind.AMOUNT_DRIFT)
        order_entry = LedgerEntry.objects.get(pk=order)
    page.click(f"tr[data-item='{new_line.pk}'] >> text=Resolve")
    assert order_entry.posting_id[-6:] in page.inner_text("#match")  # offered as a candidate
    page.fill("#match input[name=entry]", "order_77")
    shot(page, "recon-03-item-match")
    page.click("#match button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "Line 4 matched with entry" in page.inner_text(".flash")
    assert page.inner_text("#item-status") == "matched"
    with ct.schema():
        line = ReconciliationItem.objects.get(pk=new_line.pk)
        assert (line.kind, line.status, line.entry_id, line.match_rule) == (ItemKind.MATCHED, ItemStatus.MATCHED,
                                                                            order, "manual")
        assert ReconciliationItem.objects.get(run=run, kind=ItemKind.MISSING_AT_PROVIDER).status == ItemStatus.MATCHED

    # Ask for an adjusting entry for the drift: it waits for a second person.
    page.goto(console_url(ct, port, f"/console/reconciliation/{run.pk}/"))
    assert page.inner_text("#tile-open") == "1"
    page.click(f"tr[data-item='{drift.pk}'] >> text=Resolve")
    page.select_option("#adjust select[name=counter_account]", "recon_suspense_usd")
    page.fill("#adjust textarea[name=note]", "Stripe fee refunded")
    page.click("#adjust button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    assert "/console/approvals/apr_" in page.url
    main = page.inner_text("main")
    assert "You requested this change" in main and "Run " in main and "Stripe fee refunded" in main
    assert page.locator("text=Approve and post").count() == 0
    shot(page, "recon-04-adjustment-requested")
    with ct.schema():
        approval = ApprovalRequest.objects.get(kind="recon_adjust")
        assert approval.status == "pending" and approval.amount_minor == 10
        assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()
        balance = Account.objects.get(code="stripe_usd").posted_balance
    sign_out(page)

    sign_in(page, ct, port, "approver1", PASSWORD)
    page.goto(console_url(ct, port, "/console/approvals/"))
    assert "Reconciliation adjustment" in page.inner_text("main")
    page.click(f"a[href='/console/approvals/{approval.public_id}/']")
    page.fill("textarea[name=note]", "Matches the Stripe fee refund")
    shot(page, "recon-05-approver-decides")
    page.click("text=Approve and post")
    page.wait_for_load_state("domcontentloaded")
    assert "/console/entries/pst_" in page.url and "Approved; posted" in page.inner_text(".flash")
    assert "Adjusting entries made from the console are decided by a second person" in page.inner_text("main")
    shot(page, "recon-06-adjustment-evidence")
    with ct.schema():
        entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
        item = ReconciliationItem.objects.get(pk=drift.pk)
        approval.refresh_from_db()
        assert approval.status == "posted" and approval.entry_id == entry.pk
        assert (item.status, item.adjusting_entry_id) == (ItemStatus.RESOLVED, entry.pk)
        assert entry.actor_ref.endswith(":approver1")
        assert entry.metadata["approval"]["requested_by"].endswith(":operator1")
        assert Account.objects.get(code="stripe_usd").posted_balance == balance + 10
    page.goto(console_url(ct, port, f"/console/reconciliation/{run.pk}/items/{drift.pk}/"))
    assert page.inner_text("#item-status") == "resolved"
    assert page.inner_text("#adjusting-entry") == entry.posting_id
    page.goto(console_url(ct, port, f"/console/reconciliation/{run.pk}/"))
    assert page.inner_text("#tile-open") == "0" and "No open breaks" in page.inner_text("#items")
    shot(page, "recon-07-run-resolved")
    ctx.close()


def test_a_viewer_reads_runs_but_has_no_actions(browser, console_server, console_tenant):
    ct, port = console_tenant, console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, ct, port, "viewer1", PASSWORD)
    page.click("nav >> text=Reconciliation")
    assert page.locator("text=Upload a statement").count() == 0
    r = page.goto(console_url(ct, port, "/console/reconciliation/upload/"))
    assert r.status == 403 and "Nothing was changed" in page.inner_text("main, body")
    ctx.close()
