"""Compliance in real headless Chromium: verify the chain from the audit
page, see a tampered row named as the first broken link, filter the log by
the actor as the table shows it, and find sign-ins, sign-outs and failed
sign-ins in the log."""
from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditEvent
from tests.audit.conftest import raw_tamper
from tests.console.browser import console_url, shot, sign_in, sign_out
from tests.console.conftest import PASSWORD, make_console_tenant

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}


def test_verify_chain_ok_then_tampered_row_is_named(browser, console_server, tenant_factory):
    ct = make_console_tenant(tenant_factory, name="Throwaway Audit")  # this test breaks its chain on purpose
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, ct, port, "compliance1", PASSWORD)
    page.goto(console_url(ct, port, "/console/audit/"))
    page.click("#verify")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#verify-result") == "OK"
    head_seq = int(page.inner_text("#head-seq"))
    assert head_seq > 0 and len(page.inner_text("#head-hash")) == 64
    shot(page, "compliance-verify-ok")
    with ct.schema():
        verified = AuditEvent.objects.filter(action="audit.chain_verified").latest("id")
        assert verified.actor_ref.endswith(":compliance1") and verified.metadata["ok"] is True
        assert verified.metadata["head"]["seq"] == head_seq
        victim = AuditEvent.objects.filter(action="account.created").order_by("id").first()
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_auditevent SET target_id = target_id || 'x' WHERE id = %s", [victim.id])
        from audit.models import ChainLink

        seq = ChainLink.objects.get(record_type="audit_event", record_id=victim.id).seq
    page.click("text=Verify again")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#verify-result") == "BROKEN"
    assert page.inner_text("#broken-seq") == str(seq)
    assert page.inner_text("#broken-record") == f"audit_event {victim.id}"
    assert page.inner_text("#broken-reason") == "content_changed"
    shot(page, "compliance-verify-broken")
    with ct.schema():
        last = AuditEvent.objects.filter(action="audit.chain_verified").latest("id")
        assert last.metadata["ok"] is False and last.metadata["first_broken"]["seq"] == seq
    ctx.close()


def test_filter_by_displayed_actor_and_sign_in_events(browser, console_server, console_tenant):
    port = console_server.port
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    # A failed sign-in, then a real one and a sign-out, then compliance looks.
    page.goto(console_url(console_tenant, port, "/console/login/"))
    page.fill("input[name=username]", "operator1")
    page.fill("input[name=password]", "not-the-password")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state("networkidle")
    sign_in(page, console_tenant, port, "operator1", PASSWORD)
    sign_out(page)
    sign_in(page, console_tenant, port, "compliance1", PASSWORD)
    page.goto(console_url(console_tenant, port, "/console/audit/"))
    # Click an actor as the table shows it: the filter takes that very string.
    cell = page.locator("td.actor a", has_text="system · demo_seed").first
    shown = cell.inner_text()
    cell.click()
    page.wait_for_load_state("networkidle")
    assert page.input_value("input[name=actor]") == shown
    actors = {t.strip() for t in page.locator("td.actor a").all_inner_texts()}
    assert actors == {shown}
    # Typed by hand, too.
    page.fill("input[name=actor]", "operator1")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    actions = page.locator("table.data tbody td:nth-child(2)").all_inner_texts()
    assert "auth.login" in actions and "auth.logout" in actions
    assert {t.strip() for t in page.locator("td.actor a").all_inner_texts()} == {"operator1"}
    # The failed attempt names the username typed; the action select finds it.
    page.fill("input[name=actor]", "")
    page.select_option("select[name=action]", "auth.login_failed")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "login:operator1" in page.inner_text("table.data")
    shot(page, "compliance-audit-filtered")
    with console_tenant.schema():
        rows = list(AuditEvent.objects.filter(action__startswith="auth.").values_list("action", "actor_ref"))
    assert ("auth.login_failed", "login:operator1") in rows
    assert sum(1 for a, r in rows if a == "auth.login" and r.endswith(":operator1")) == 1
    assert sum(1 for a, r in rows if a == "auth.logout" and r.endswith(":operator1")) == 1
    ctx.close()
