"""Audit browser filters and its CSV, which is the audit app's export (pinned,
with manifest, audited downloads) reached from the console."""
from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from django.http import StreamingHttpResponse

from audit.exports import csv_cell
from audit.models import AuditEvent

from .conftest import PASSWORD, entry_form
from .test_approvals import decide, submit_big
from core.actors import Actor


def export(client, query: str = "", kind: str = "audit_events"):
    """Export CSV from a list: the generic export view, then the file."""
    r = client.get(f"/console/exports/new/?kind={kind}" + (("&" + query.lstrip("?")) if query else ""))
    assert r.status_code == 302 and r["Location"].startswith("/console/exports/"), (r.status_code, r.content[:400])
    export_page = r["Location"].split("?")[0]
    r = client.get(export_page + "file/")
    assert r.status_code == 200 and isinstance(r, StreamingHttpResponse)
    assert r["Content-Type"].startswith("text/csv") and "attachment;" in r["Content-Disposition"]
    body = b"".join(r.streaming_content)
    return export_page, body


def download(client, query: str = "") -> list[list[str]]:
    _, body = export(client, query)
    return list(csv.reader(io.StringIO(body.decode())))


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
    assert "ledger_entry.posted" in page and "approval.approved" in page and "Export CSV" in page
    # The action filter is a select of the actions the log holds.
    assert '<option value="approval.approved">' in page
    page = c.get("/console/audit/?action=approval.approved").content.decode()
    assert "approval.approved" in page and "approval.requested</span>" not in page
    # The actor filter takes the actor as the table shows it.
    page = c.get("/console/audit/?actor=approver1").content.decode()
    assert "approval.approved" in page and "approval.requested</span>" not in page
    page = c.get("/console/audit/?actor=system+%C2%B7+demo_seed").content.decode()
    assert "account.created" in page and "approval.approved</span>" not in page
    # Exact, not a substring: "approver" is nobody.
    assert "No audit events match" in c.get("/console/audit/?actor=approver").content.decode()
    rows = download(c)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["id", "occurred_at", "actor_kind", "actor_ref", "action"]
    actions = [r[4] for r in body]
    assert {"ledger_entry.posted", "approval.requested", "approval.approved", "policy.created"} <= set(actions)
    only = download(c, "?action=approval.approved")
    assert [r[4] for r in only[1:]] == ["approval.approved"]
    by_actor = download(c, "?actor=approver1")
    assert {r[4] for r in by_actor[1:]} >= {"approval.approved"} and all(r[3].endswith(":approver1") for r in by_actor[1:])


def test_correlation_and_time_filters(console_tenant):
    c = console_tenant.client("compliance1")
    console_tenant.client("operator1").post("/console/new-entry/", entry_form(amount=10), HTTP_X_CORRELATION_ID="corr-audit-1")
    rows = download(c, "?correlation_id=corr-audit-1")
    assert [r[4] for r in rows[1:]] == ["ledger_entry.posted"]
    assert len(download(c, "?occurred_after=2000-01-01T00:00:00Z&occurred_before=2000-01-02T00:00:00Z")) == 1
    r = c.get("/console/audit/?start=2001-01-01T00:00&end=2000-01-01T00:00")
    assert r.status_code == 400 and "after" in r.content.decode()
    r = c.get("/console/exports/new/?kind=audit_events&occurred_after=not-a-date")
    assert r.status_code == 400 and "Nothing was exported" in r.content.decode()
    r = c.get("/console/exports/new/?kind=audit_events&bogus=1")
    assert r.status_code == 400 and "unknown_filter" in r.content.decode()


def test_formula_text_in_evidence_is_escaped_in_the_csv(console_tenant):
    """A hostile idempotency key on a rejected request lands in target_id; the
    CSV must not hand it to a spreadsheet as a formula."""
    evil = "=HYPERLINK(\"http://x\")"
    from ledger.services.policies import policy_revise
    from .conftest import SETUP

    with console_tenant.schema():
        policy_revise(actor=SETUP, name="four_eyes", params={"threshold_minor": 10**12})
        policy_revise(actor=SETUP, name="large_manual_entries", params={"threshold_minor": 10**12})
    console_tenant.client("operator1").post("/console/new-entry/", entry_form(amount=10**9, key=evil))
    rows = download(console_tenant.client("compliance1"), "?action=ledger_entry.create.rejected")
    assert len(rows) == 2 and rows[1][6] == "'" + evil
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_manifest_matches_the_download_and_downloads_are_audited(console_tenant):
    c = console_tenant.client("compliance1")
    page, body = export(c, "?action=account.created")
    r = c.get(page + "manifest/")
    assert r.status_code == 200 and "attachment;" in r["Content-Disposition"]
    manifest = json.loads(r.content)
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["filters"] == {"action": "account.created"} and manifest["chain_head"]["seq"] > 0
    export_id = manifest["export_id"]
    with console_tenant.schema():
        got = {e.action: e for e in AuditEvent.objects.filter(target_type="export", target_id=str(export_id))}
    assert {"export.created", "export.downloaded", "export.manifest_downloaded"} <= set(got)
    down = got["export.downloaded"]
    assert down.actor_ref.endswith(":compliance1") and down.metadata["kind"] == "audit_events"
    assert down.metadata["filters"] == {"action": "account.created"} and down.metadata["sha256"] == manifest["sha256"]


def test_audit_needs_audit_and_export_capabilities(console_tenant):
    assert console_tenant.client("operator1").get("/console/audit/").status_code == 403
    assert console_tenant.client("viewer1").get("/console/exports/new/?kind=audit_events").status_code == 403
    assert console_tenant.client("viewer1").get("/console/audit/verify/").status_code == 403
    assert console_tenant.client("admin1").get("/console/exports/new/?kind=audit_events").status_code == 302


def test_console_csv_over_the_tenants_row_limit_is_refused(console_tenant):
    from tenants.services.limits import tenant_limits_set
    from audit.models import Export

    tenant_limits_set(actor=Actor.system("tests"), tenant=console_tenant.tenant, export_rows=1)
    with console_tenant.schema():
        before = Export.objects.count()
    r = console_tenant.client("admin1").get("/console/exports/new/?kind=audit_events")
    assert r.status_code == 422 and b"export_too_large" in r.content and b"at most 1 rows" in r.content
    with console_tenant.schema():
        assert Export.objects.count() == before
    tenant_limits_set(actor=Actor.system("tests"), tenant=console_tenant.tenant, export_rows=None)
    assert console_tenant.client("admin1").get("/console/exports/new/?kind=audit_events").status_code == 302


def test_chain_verify_from_the_console_is_audited(console_tenant):
    c = console_tenant.client("compliance1")
    page = c.get("/console/audit/verify/").content.decode()
    assert 'id="verify-result">OK' in page and 'id="head-seq"' in page
    with console_tenant.schema():
        ev = AuditEvent.objects.filter(action="audit.chain_verified").get()
    assert ev.actor_ref.endswith(":compliance1") and ev.metadata["ok"] is True and ev.metadata["head"]["seq"] > 0


def test_sign_in_sign_out_and_failed_sign_in_are_audited(console_tenant):
    c = console_tenant.client()
    c.get("/console/login/")
    c.post("/console/login/", {"username": "operator1", "password": "wrong-password"})
    c = console_tenant.client("operator1")
    c.post("/console/logout/")
    with console_tenant.schema():
        rows = list(AuditEvent.objects.filter(action__startswith="auth.").values_list("action", "actor_ref", "metadata"))
    assert ("auth.login_failed", "login:operator1") in [(a, r) for a, r, _ in rows]
    assert [a for a, r, _ in rows if r.endswith(":operator1") and r.startswith("user:")] == ["auth.login", "auth.logout"]
    assert all(m["surface"] == "console" for _, _, m in rows)


def test_admin_sign_ins_are_audited_with_their_surface(console_tenant):
    c = console_tenant.client()
    c.get("/admin/login/")
    c.post("/admin/login/?next=/admin/", {"username": "admin1", "password": "wrong-password"})
    r = c.post("/admin/login/?next=/admin/", {"username": "admin1", "password": PASSWORD})
    assert r.status_code == 302
    with console_tenant.schema():
        rows = list(AuditEvent.objects.filter(action__in=["auth.login", "auth.login_failed"])
                    .values_list("action", "actor_ref", "metadata__surface"))
    assert ("auth.login_failed", "login:admin1", "admin") in rows
    assert any(a == "auth.login" and r.endswith(":admin1") and s == "admin" for a, r, s in rows)
