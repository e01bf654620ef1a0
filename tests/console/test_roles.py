"""Roles are enforced on every console view and action; sessions and users
belong to one tenant's hostname."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

from users.models import ROLE_CAPABILITIES

from .conftest import PASSWORD, login

# path -> capability needed for GET
PAGES = {
    "/console/": "view",
    "/console/accounts/": "view",
    "/console/accounts/customer_balance/": "view",
    "/console/entries/": "view",
    "/console/new-entry/": "post",
    "/console/approvals/": "view",
    "/console/policies/": "view",
    "/console/audit/": "audit",
    "/console/audit/verify/": "audit",
    "/console/exports/": "export",
    "/console/exports/new/?kind=audit_events&action=account.created": "export",
    "/console/exports/new/?kind=ledger_entries": "export",
    "/console/exports/new/?kind=ledger_lines&account=customer_balance": "export",
    "/console/exports/new/?kind=holds&status=active": "export",
    "/console/exports/new/?kind=webhook_deliveries&status=failed": "export",
    "/console/events/": "view",
    "/console/inbound/": "view",
    "/console/evidence/?key=led_8172": "view",
    "/console/periods/": "view",
    "/console/periods/2025-01/": "view",
    "/console/accounts/customer_balance/changes/": "view",
    "/console/webhooks/": "view",
    "/console/webhooks/new/": "webhooks",
    "/console/deliveries/": "view",
    "/console/deliveries/?status=failing": "view",
    "/console/deliveries/resend-failed/": "webhooks",
    "/console/reconciliation/": "view",
    "/console/reconciliation/upload/": "post",
    "/console/people/": "admin",
    "/console/people/1/": "admin",
    "/console/holds/": "view",
    "/console/holds/?status=open&expiring_within_hours=24": "view",
    "/console/holds/1/": "view",  # the demo seed's first hold
    "/console/search/?q=clearing": "view",
    "/console/entries/?amount_min=12.50&status=open": "view",
    # Actions: a GET says where the form is (405) and changes nothing.
    "/console/holds/1/capture/": "hold",
    "/console/holds/1/release/": "hold",
    "/console/entries/1/reverse/": "post",
    "/console/accounts/customer_balance/status/": "post",
}
ACTIONS = ("/console/holds/1/capture/", "/console/holds/1/release/", "/console/entries/1/reverse/",
           "/console/accounts/customer_balance/status/")
USERS = {"viewer1": "viewer", "operator1": "operator", "approver1": "approver", "compliance1": "compliance",
         "admin1": "admin"}


def test_every_console_route_declares_a_capability():
    """A new page cannot forget authorization: each view is wrapped by
    console_view(capability) or platform_view (login/logout excepted)."""
    resolver = get_resolver()
    console = next(p for p in resolver.url_patterns if getattr(p, "app_name", None) == "console")
    for pattern in console.url_patterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in {"login", "logout"}:
            continue
        assert hasattr(pattern.callback, "console_capability"), pattern.name


@pytest.mark.parametrize("path", list(PAGES))
def test_anonymous_is_sent_to_login(console_tenant, path):
    r = console_tenant.client().get(path)
    assert r.status_code == 302 and r["Location"].startswith("/console/login/?next=")


def test_role_matrix(console_tenant):
    """Each role opens exactly the pages its capabilities allow; the others
    answer a styled 403 that says nothing changed."""
    for username, role in USERS.items():
        c = console_tenant.client(username)
        for path, capability in PAGES.items():
            r = c.get(path)
            allowed = capability in ROLE_CAPABILITIES[role]
            # A posted key redirects to its entry, a new export to its page; an action's URL answers a GET with 405.
            ok = 302 if path.startswith(("/console/evidence/", "/console/exports/new/")) else 405 if path in ACTIONS else 200
            assert r.status_code == (ok if allowed else 403), (username, path, r.status_code)
            if not allowed:
                body = r.content.decode()
                assert "Nothing was changed" in body and "permission_denied" in body


def test_export_files_and_manifests_are_refused_to_a_viewer(console_tenant):
    """The export's own pages (file, manifest) need `export` too, not only
    the link that makes one."""
    r = console_tenant.client("compliance1").get("/console/exports/new/?kind=ledger_entries")
    page = r["Location"].split("?")[0]
    for path in (page, page + "file/", page + "manifest/"):
        r = console_tenant.client("viewer1").get(path)
        assert r.status_code == 403 and "permission_denied" in r.content.decode(), path


def test_nav_shows_only_what_the_role_may_open(console_tenant):
    viewer = console_tenant.client("viewer1").get("/console/").content.decode()
    assert "New entry" not in viewer and "Audit log" not in viewer
    compliance = console_tenant.client("compliance1").get("/console/").content.decode()
    assert "Audit log" in compliance and "New entry" not in compliance
    operator = console_tenant.client("operator1").get("/console/").content.decode()
    assert "New entry" in operator and "Audit log" not in operator


def test_wrong_password_and_inactive_user(console_tenant):
    c = console_tenant.client()
    page = c.get("/console/login/")
    assert page.status_code == 200
    r = c.post("/console/login/", {"username": "operator1", "password": "nope"})
    assert r.status_code == 200 and "didn't match" in r.content.decode()
    with console_tenant.schema():
        u = console_tenant.users["operator2"]
        u.is_active = False
        u.save()
    r = c.post("/console/login/", {"username": "operator2", "password": PASSWORD})
    assert r.status_code == 200 and "didn't match" in r.content.decode()


def test_logout_ends_the_session(console_tenant):
    c = console_tenant.client("viewer1")
    assert c.get("/console/").status_code == 200
    assert c.post("/console/logout/").status_code == 302
    assert c.get("/console/").status_code == 302


def test_users_and_sessions_belong_to_one_tenant(console_tenant, other_tenant):
    # A's user does not exist on B's host.
    b = Client(HTTP_HOST=other_tenant.host)
    b.get("/console/login/")
    r = b.post("/console/login/", {"username": "operator1x", "password": PASSWORD})
    assert r.status_code == 200
    # Same username in both tenants, but A's session cookie means nothing on B's host.
    a = console_tenant.client("operator1")
    assert a.get("/console/").status_code == 200
    stolen = Client(HTTP_HOST=other_tenant.host)
    stolen.cookies["sessionid"] = a.cookies["sessionid"].value
    r = stolen.get("/console/")
    assert r.status_code == 302 and "/console/login/" in r["Location"]


def test_console_on_the_platform_host_needs_a_tenant(console_tenant):
    r = Client(HTTP_HOST="localhost").get("/console/")
    assert r.status_code == 404 and "tenant" in r.content.decode()


def test_login_as_b_user_on_b_host_cannot_read_a_objects(console_tenant, other_tenant):
    with console_tenant.schema():
        from ledger.models import LedgerEntry

        a_entry = LedgerEntry.objects.get(idempotency_key="led_8172")
    b = other_tenant.client()
    login(b, "admin1")
    # A's posting id is not in B's schema (B has its own led_8172 with a different posting id).
    r = b.get(f"/console/entries/{a_entry.posting_id}/")
    assert r.status_code == 404 and "no such entry in this tenant" in r.content.decode()
