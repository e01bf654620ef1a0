"""Hardening seen from the browser: a period name with a path in it, and a
look-alike spelling of a locked username (real headless Chromium)."""
from __future__ import annotations

import pytest

from audit.models import AuditEvent
from closeout.models import AccountingPeriod
from core.redis import redis_client

from .browser import console_url, shot, sign_in
from .conftest import PASSWORD

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 900}


@pytest.fixture
def no_login_counters():
    yield
    r = redis_client()
    for k in r.scan_iter("zentra:login:*"):
        r.delete(k)


def test_opening_a_period_named_like_a_path_shows_no_such_period(browser, console_server, console_tenant):
    with console_tenant.schema():
        periods_before = AccountingPeriod.objects.count()
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    sign_in(page, console_tenant, console_server.port, "viewer1", PASSWORD)
    page.goto(console_url(console_tenant, console_server.port, "/console/periods/"))
    page.fill("input[name=go]", "../../admin")
    with page.expect_response(lambda r: "/console/periods/?go=" in r.url) as answer:
        page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert answer.value.status == 404
    assert "No such period" in page.content()
    assert "/admin" not in page.url.split("?")[0]
    shot(page, "period_go_path_not_found")
    ctx.close()
    with console_tenant.schema():
        assert AccountingPeriod.objects.count() == periods_before


def test_a_fullwidth_spelling_of_a_locked_name_is_refused(browser, console_server, console_tenant,
                                                          no_login_counters):
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    for _ in range(5):
        sign_in(page, console_tenant, console_server.port, "operator1", "wrong-password")
    assert "Sign-in is locked" in page.content()
    sign_in(page, console_tenant, console_server.port, "ｏｐｅｒａｔｏｒ１", PASSWORD)
    assert "Sign-in is locked" in page.content()
    assert page.url.endswith("/console/login/")
    shot(page, "lockout_fullwidth_refused")
    ctx.close()
    with console_tenant.schema():
        assert AuditEvent.objects.filter(action="auth.login_locked").count() == 1
