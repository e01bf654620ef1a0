"""Closeout pages: roles, the close / reopen maker-checker flow, refusals
that change nothing, the trial-balance CSV and the balance-change page."""
from __future__ import annotations

import hashlib
import re

from closeout.models import AccountingPeriod, PeriodReopenRequest

from .conftest import login  # noqa: F401


def _csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_period_pages_and_role_gates(console_tenant):
    viewer = console_tenant.client("viewer1")
    assert viewer.get("/console/periods/").status_code == 200
    page = viewer.get("/console/periods/2025-01/")
    assert page.status_code == 200 and "Trial balance" in page.content.decode()
    assert "can view periods only" in page.content.decode()
    r = viewer.post("/console/periods/2025-01/action/", {"action": "close"})
    assert r.status_code == 403 and "Nothing was changed" in r.content.decode()
    r = console_tenant.client("operator1").post("/console/periods/2025-01/action/", {"action": "close"})
    assert r.status_code == 403
    with console_tenant.schema():
        assert not AccountingPeriod.objects.exists()
    assert viewer.get("/console/periods/nonsense/").status_code == 404
    assert viewer.get("/console/accounts/customer_balance/changes/").status_code == 200
    assert viewer.get("/console/accounts/customer_balance/changes/?from=2026-01-02&to=2025-01-01").status_code == 400
    assert viewer.get("/console/accounts/nope/changes/").status_code == 404


def test_close_then_reopen_needs_a_second_person(console_tenant):
    admin = console_tenant.client("admin1")
    r = admin.post("/console/periods/2025-02/action/", {"action": "close"})
    assert r.status_code == 302, r.content
    page = admin.get("/console/periods/2025-02/").content.decode()
    assert 'id="period-status">closed' in page and "Sealed period-end snapshot" in page
    # A refusal renders a page and changes nothing.
    r = admin.post("/console/periods/2099-01/action/", {"action": "close"})
    assert r.status_code == 422 and "period_not_ended" in r.content.decode()
    r = admin.post("/console/periods/2025-02/action/", {"action": "reopen", "reason": "late invoice"})
    assert r.status_code == 302
    with console_tenant.schema():
        req = PeriodReopenRequest.objects.get()
    # The maker cannot approve (admins have approve too, but not for their own request).
    r = admin.post(f"/console/period-reopens/{req.public_id}/decide/", {"decision": "approve"})
    assert r.status_code == 403 and "reopen_self_decision" in r.content.decode()
    assert "You asked for this" in admin.get("/console/periods/2025-02/").content.decode()
    approver = console_tenant.client("approver1")
    r = approver.post(f"/console/period-reopens/{req.public_id}/decide/", {"decision": "approve", "note": "ok"})
    assert r.status_code == 302
    with console_tenant.schema():
        assert AccountingPeriod.objects.get(name="2025-02").status == "open"


def test_trial_balance_csv_of_a_closed_period(console_tenant):
    admin = console_tenant.client("admin1")
    assert admin.post("/console/periods/2025-03/action/", {"action": "close"}).status_code == 302
    c = console_tenant.client("compliance1")
    page = c.get("/console/periods/2025-03/").content.decode()
    assert "/console/exports/new/?kind=trial_balance&amp;period=2025-03" in page
    r = c.get("/console/exports/new/?kind=trial_balance&period=2025-03")
    assert r.status_code == 302
    export_page = r["Location"].split("?")[0]
    r = c.get(export_page + "file/")
    assert r.status_code == 200
    body = b"".join(r.streaming_content)
    assert body.decode().startswith("period,start_at,end_at,account")
    manifest = c.get(export_page + "manifest/").json()
    assert manifest["kind"] == "trial_balance" and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert console_tenant.client("viewer1").get("/console/exports/new/?kind=trial_balance&period=2025-03").status_code == 403
    assert console_tenant.client("viewer1").get(export_page + "manifest/").status_code == 403
    r = c.get("/console/exports/new/?kind=trial_balance&period=2025-04")
    assert r.status_code == 409 and "not closed" in r.content.decode()

def test_trial_balance_and_why_agree_for_back_dated_entries(console_tenant):
    """The accounting rule: periods are by effective date, everywhere. Entries
    posted today but dated in 2025-06 move June's trial balance, and June's
    *why?* for the same account shows exactly that movement (posting time
    is shown beside each line as evidence)."""
    import datetime as dt

    from closeout import selectors as tb_selectors
    from ledger.models import Account
    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post

    from .conftest import SETUP

    june = dt.datetime(2025, 6, 10, 12, tzinfo=dt.timezone.utc)
    with console_tenant.schema():
        for i, (amount, when) in enumerate([(7_000, june), (2_500, june + dt.timedelta(days=5)),
                                            (900, dt.datetime(2025, 7, 2, tzinfo=dt.timezone.utc))]):
            lines = [LineSpec(account="bank_usd", side="debit", amount_minor=amount, currency="USD"),
                     LineSpec(account="customer_balance", side="credit", amount_minor=amount, currency="USD")]
            out = entry_post(actor=SETUP, tenant=console_tenant.tenant.slug, idempotency_key=f"backdated-{i}",
                             req_hash=request_hash(operation="t", payload=[i]), lines=lines, effective_at=when,
                             description="back-dated top-up")
            assert not out.is_problem, out.body
        tb = tb_selectors.trial_balance("2025-06")
        row = next(tb_selectors.tb_row_body(r) for r in tb.rows if r[1] == "customer_balance")
        account = Account.objects.get(code="customer_balance")
        change = tb_selectors.balance_change(account=account, start=tb.start_at, end=tb.end_at)
    assert row["credits_minor"] == 9_500 and row["lines_count"] == 2
    assert change["credits_minor"] == row["credits_minor"] and change["debits_minor"] == row["debits_minor"]
    assert change["opening"]["posted"] == row["opening_minor"] and change["closing"]["posted"] == row["closing_minor"]
    # The page's why? link carries the period's bounds, and the page shows the same movement.
    c = console_tenant.client("viewer1")
    page = c.get("/console/periods/2025-06/").content.decode()
    link = re.search(r'href="(/console/accounts/customer_balance/changes/\?from=[^"]+)"', page).group(1)
    why = c.get(link.replace("&amp;", "&")).content.decode()
    movement = row["closing_minor"] - row["opening_minor"]
    assert f'id="change">{movement // 100:,}.{movement % 100:02d} <span class="cur">USD' in why
    assert 'id="lines-count">2<' in why and "back-dated top-up" in why
    assert "2025-06-10 12:00:00 UTC" in why  # effective date, with the posting time beside it
