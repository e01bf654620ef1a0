"""People as a tenant admin manages them, in real headless Chromium: create
an operator, who signs in with the temporary password and sees only what
the role allows; a role change applies at once; deactivation ends it."""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from users.models import User
from tests.console.browser import console_url, shot, sign_in
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}


def nav(page) -> str:
    return page.inner_text(".sidebar")


def test_admin_creates_an_operator_and_changes_the_role(browser, console_server, console_tenant):
    ct, port = console_tenant, console_server.port
    admin_ctx = browser.new_context(viewport=VIEWPORT)
    admin = admin_ctx.new_page()
    sign_in(admin, ct, port, "admin1", PASSWORD)
    admin.click("nav >> text=People")
    admin.fill("input[name=username]", "erin")
    admin.fill("input[name=email]", "erin@example.com")
    admin.select_option("select[name=role]", "operator")
    admin.click("form[action$='/people/new/'] button[type=submit]")
    admin.wait_for_load_state("domcontentloaded")
    assert "Created erin (Operator)" in admin.inner_text(".flash")
    password = admin.inner_text("#temp-password-value").strip()
    assert len(password) == 20
    shot(admin, "people-01-created")
    with ct.schema():
        erin = User.objects.get(username="erin")
        assert erin.role == "operator" and erin.is_active and erin.check_password(password)
        assert AuditEvent.objects.filter(action="user.created", target_id=str(erin.pk)).count() == 1

    erin_ctx = browser.new_context(viewport=VIEWPORT)
    page = erin_ctx.new_page()
    sign_in(page, ct, port, "erin", password)
    assert page.url.endswith("/console/")
    assert "New entry" in nav(page) and "People" not in nav(page) and "Audit log" not in nav(page)
    r = page.goto(console_url(ct, port, "/console/people/"))
    assert r.status == 403
    r = page.goto(console_url(ct, port, "/console/new-entry/"))
    assert r.status == 200
    shot(page, "people-02-operator-signed-in")

    # Once erin has signed in, the temporary password is gone from the admin's page.
    admin.reload()
    assert admin.locator("#temp-password").count() == 0
    admin.select_option("#role select[name=role]", "approver")
    admin.click("#role button[type=submit]")
    admin.wait_for_load_state("domcontentloaded")
    assert "erin is now Approver" in admin.inner_text(".flash")
    with ct.schema():
        assert User.objects.get(pk=erin.pk).role == "approver"
        assert AuditEvent.objects.filter(action="user.role_changed", target_id=str(erin.pk)).count() == 1

    page.goto(console_url(ct, port, "/console/"))
    assert "New entry" not in nav(page) and "Approvals" in nav(page)
    r = page.goto(console_url(ct, port, "/console/new-entry/"))
    assert r.status == 403

    admin.check("#deactivate input[name=confirm]")
    admin.click("#deactivate button[type=submit]")
    admin.wait_for_load_state("domcontentloaded")
    assert "deactivated" in admin.inner_text(".flash")
    page.goto(console_url(ct, port, "/console/"))
    assert "/console/login/" in page.url
    admin.goto(console_url(ct, port, "/console/people/"))
    row = admin.inner_text("tr[data-user=erin]")
    assert "Approver" in row and "deactivated" in row and "never" not in row  # erin did sign in once
    shot(admin, "people-03-list")
    with ct.schema():
        assert not User.objects.get(pk=erin.pk).is_active
    admin_ctx.close()
    erin_ctx.close()
