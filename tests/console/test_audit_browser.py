"""Audit browser filters and the streamed, injection-safe CSV download."""
from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from console.exports import csv_cell

from .conftest import entry_form
from .test_approvals import decide, submit_big
from core.actors import Actor


def download(client, query: str = "") -> list[list[str]]:
    r = client.get("/console/audit.csv" + query)
    assert r.status_code == 200 and isinstance(r, StreamingHttpResponse)
    assert r["Content-Type"].startswith("text/csv") and "attachment;" in r["Content-Disposition"]
    return list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))


@pytest.mark.parametrize("value,expected", [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain", "plain"), (-125000, -125000), (125000, 125000), (None, ""), ({"a": "=x"}, '{"a":"=x"}'),
])
def test_csv_cells_are_defused_but_numbers_stay_numbers(value, expected):
    assert csv_cell(value) == expected


def test_compliance_filters_and_downloads(console_tenant):
    op = console_tenant.client("operator1")
    op.post("/console/new-entry/", entry_form(amount=1234))
    _, public_id = submit_big(console_tenant)
    decide(console_tenant.client("approver1"), public_id, "approve")
    c = console_tenant.client("compliance1")
    page = c.get("/console/audit/").content.decode()
    assert "ledger_entry.posted" in page and "approval.approved" in page and "Download CSV" in page
    page = c.get("/console/audit/?action=approval.").content.decode()
    assert "approval.requested" in page and "approval.approved" in page and "account.created" not in page
    page = c.get("/console/audit/?actor=approver1").content.decode()
    assert "approval.approved" in page and "approval.requested" not in page
    rows = download(c)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["id", "occurred_at", "actor_kind", "actor_ref", "action"]
    actions = [r[4] for r in body]
    assert {"ledger_entry.posted", "approval.requested", "approval.approved", "policy.created"} <= set(actions)
    only = download(c, "?action=approval.approved")
    assert [r[4] for r in only[1:]] == ["approval.approved"]


def test_correlation_and_time_filters(console_tenant):
    c = console_tenant.client("compliance1")
    console_tenant.client("operator1").post("/console/new-entry/", entry_form(amount=10), HTTP_X_CORRELATION_ID="corr-audit-1")
    rows = download(c, "?correlation_id=corr-audit-1")
    assert [r[4] for r in rows[1:]] == ["ledger_entry.posted"]
    assert len(download(c, "?start=2000-01-01T00:00&end=2000-01-02T00:00")) == 1  # header only
    r = c.get("/console/audit/?start=2001-01-01T00:00&end=2000-01-01T00:00")
    assert r.status_code == 400 and "after" in r.content.decode()
    assert c.get("/console/audit.csv?start=not-a-date").status_code == 400


def test_formula_text_in_evidence_is_escaped_in_the_csv(console_tenant):
    """A hostile idempotency key on a rejected request lands in target_id; the
    CSV must not hand it to a spreadsheet as a formula."""
    evil = "=HYPERLINK(\"http://x\")"
    from ledger.services.policies import policy_revise
    from .conftest import SETUP

    with console_tenant.schema():
        policy_revise(actor=SETUP, name="four_eyes", params={"threshold_minor": 10**12})
    console_tenant.client("operator1").post("/console/new-entry/", entry_form(amount=10**9, key=evil))
    rows = download(console_tenant.client("compliance1"), "?action=ledger_entry.create.rejected")
    assert len(rows) == 2 and rows[1][6] == "'" + evil
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_audit_needs_audit_and_export_capabilities(console_tenant):
    assert console_tenant.client("operator1").get("/console/audit/").status_code == 403
    assert console_tenant.client("viewer1").get("/console/audit.csv").status_code == 403
    assert console_tenant.client("admin1").get("/console/audit.csv").status_code == 200


def test_console_csv_over_the_tenants_row_limit_is_refused(console_tenant):
    from tenants.services.limits import tenant_limits_set

    tenant_limits_set(actor=Actor.system("tests"), tenant=console_tenant.tenant, export_rows=1)
    r = console_tenant.client("admin1").get("/console/audit.csv")
    assert r.status_code == 422 and b"export_too_large" in r.content and b"at most 1 rows" in r.content
    tenant_limits_set(actor=Actor.system("tests"), tenant=console_tenant.tenant, export_rows=None)
    assert console_tenant.client("admin1").get("/console/audit.csv").status_code == 200
