"""Exports from every console list, in real headless Chromium, as a
compliance user would take them: Export CSV on the list, then the file and
its manifest from the export's page. The file's SHA-256 must equal the
manifest's, and every download must leave an audit row naming the user, the
kind and the filters."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from audit.models import AuditEvent, Export
from tests.console.browser import console_url, shot, sign_in
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}


def take(page, link_selector: str, *, name: str) -> tuple[dict, bytes, list[list[str]]]:
    """Click a list's Export CSV, then download the file and the manifest."""
    page.click(link_selector)
    page.wait_for_load_state("networkidle")
    assert "/console/exports/" in page.url and page.locator("#download").count() == 1, page.url
    shot(page, f"export-{name}")
    with page.expect_download() as info:
        page.click("#download")
    body = Path(info.value.path()).read_bytes()
    with page.expect_download() as info:
        page.click("#manifest")
    manifest = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest(), name
    assert manifest["row_count"] == len(rows) - 1 and manifest["byte_count"] == len(body)
    return manifest, body, rows


def test_compliance_downloads_every_list_with_its_manifest(browser, console_server, console_tenant):
    import datetime as dt

    from ledger.services.boundary import request_hash
    from ledger.posting.rules import LineSpec
    from ledger.posting.post import entry_post
    from tests.console.conftest import SETUP

    port = console_server.port
    with console_tenant.schema():  # something dated in March, so its trial balance has rows
        lines = [LineSpec(account="bank_usd", side="debit", amount_minor=4_200, currency="USD"),
                 LineSpec(account="customer_balance", side="credit", amount_minor=4_200, currency="USD")]
        assert not entry_post(actor=SETUP, tenant=console_tenant.tenant.slug, idempotency_key="march-topup",
                              req_hash=request_hash(operation="t", payload=["march"]), lines=lines,
                              effective_at=dt.datetime(2025, 3, 5, tzinfo=dt.timezone.utc)).is_problem
    admin = console_tenant.client("admin1")
    assert admin.post("/console/periods/2025-03/action/", {"action": "close"}).status_code == 302
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "compliance1", PASSWORD)
    taken = {}

    # Entries, filtered by account: the export carries the list's filter.
    page.goto(console_url(console_tenant, port, "/console/entries/?account=payout_clearing"))
    manifest, _, rows = take(page, "#export", name="entries")
    assert manifest["kind"] == "ledger_entries" and manifest["filters"] == {"account": "payout_clearing"}
    assert rows[0][:3] == ["entry_id", "posting_id", "kind"] and len(rows) == 2
    assert manifest["chain_head"]["seq"] > 0
    taken["ledger_entries"] = manifest

    # An account's statement.
    page.goto(console_url(console_tenant, port, "/console/accounts/customer_balance/"))
    manifest, _, rows = take(page, "#export", name="statement")
    assert manifest["kind"] == "ledger_lines" and manifest["filters"] == {"account": "customer_balance"}
    assert {r[5] for r in rows[1:]} == {"customer_balance"}
    taken["ledger_lines"] = manifest

    # The audit log, filtered by action.
    page.goto(console_url(console_tenant, port, "/console/audit/"))
    page.select_option("select[name=action]", "account.created")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    manifest, _, rows = take(page, "#export", name="audit")
    assert manifest["filters"] == {"action": "account.created"} and {r[4] for r in rows[1:]} == {"account.created"}
    taken["audit_events"] = manifest

    # The trial balance of a closed period.
    page.goto(console_url(console_tenant, port, "/console/periods/2025-03/"))
    manifest, _, rows = take(page, "#export", name="trial-balance")
    assert manifest["kind"] == "trial_balance" and rows[0][0] == "period"
    assert {r[3]: r[8] for r in rows[1:]}["customer_balance"] == "4200"  # credits_minor
    taken["trial_balance"] = manifest

    # Holds and webhook deliveries: their list pages only link to the export view.
    for kind, query in (("holds", "status=captured"), ("webhook_deliveries", "status=failed")):
        page.goto(console_url(console_tenant, port, f"/console/exports/new/?kind={kind}&{query}"))
        page.wait_for_load_state("networkidle")
        with page.expect_download() as info:
            page.click("#download")
        body = Path(info.value.path()).read_bytes()
        with page.expect_download() as info:
            page.click("#manifest")
        manifest = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest() and manifest["pinned_by"] == "max_row_id"
        taken[kind] = manifest
    assert {r[7] for r in csv.reader(io.StringIO(body.decode())) if r[0] != "delivery_id"} <= {"failed"}

    page.goto(console_url(console_tenant, port, "/console/exports/"))
    shot(page, "export-list")
    ctx.close()

    with console_tenant.schema():
        for kind, manifest in taken.items():
            export = Export.objects.get(pk=manifest["export_id"])
            assert export.kind == kind and export.sha256 == manifest["sha256"]
            rows = {e.action: e for e in AuditEvent.objects.filter(target_type="export", target_id=str(export.pk))}
            assert {"export.created", "export.downloaded", "export.manifest_downloaded"} <= set(rows), kind
            down = rows["export.downloaded"]
            assert down.actor_ref.endswith(":compliance1") and down.metadata["kind"] == kind
            assert down.metadata["filters"] == export.filters and down.metadata["sha256"] == manifest["sha256"]


def test_viewer_gets_403_on_every_export(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, port, "viewer1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/entries/"))
    assert page.locator("#export").count() == 0  # no link for a role that cannot use it
    with console_tenant.schema():
        before = Export.objects.count()
    for path in ("/console/exports/", "/console/exports/new/?kind=ledger_entries",
                 "/console/exports/new/?kind=audit_events", "/console/audit/verify/"):
        resp = page.goto(console_url(console_tenant, port, path))
        assert resp.status == 403 and "Nothing was changed" in page.inner_text("main"), path
    with console_tenant.schema():
        assert Export.objects.count() == before
    shot(page, "export-viewer-403")
    ctx.close()
