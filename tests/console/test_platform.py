"""The platform-staff page on the public host creates tenants through
tenant_create, with a first admin, once per form."""
from __future__ import annotations

import uuid

from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from tenants.models import Tenant
from users.models import User

from .conftest import PASSWORD, login


def staff_client(**extra) -> tuple[Client, User]:
    with schema_context("public"):
        user = User.objects.create_user(username=f"staff_{uuid.uuid4().hex[:8]}", password=PASSWORD, **extra)
    c = Client(HTTP_HOST="localhost")
    login(c, user.username)
    return c, user


def form(slug: str, key: str | None = None, **extra) -> dict:
    return {"form_key": key or f"plt_{uuid.uuid4().hex}", "slug": slug, "name": "Initech Pay", "domain": "",
            "admin_username": "founder", "admin_password": "a-long-password-1", **extra}


def test_staff_creates_a_tenant_with_its_first_admin(console_tenant):
    c, staff = staff_client(is_staff=True)
    assert c.get("/console/").status_code == 302  # the platform host's console is the tenants page
    page = c.get("/console/platform/").content.decode()
    assert console_tenant.tenant.slug in page and "Create a tenant" in page
    slug = f"p{uuid.uuid4().hex[:8]}"
    data = form(slug)
    r = c.post("/console/platform/", data)
    assert r.status_code == 302
    assert c.post("/console/platform/", data).status_code == 302  # double submit replays
    tenant = Tenant.objects.get(slug=slug)
    assert Tenant.objects.filter(slug=slug).count() == 1
    assert tenant.domains.get().domain == f"{slug}.localhost"
    with schema_context(tenant.schema_name):
        admin = User.objects.get(username="founder")
        assert admin.role == "admin" and admin.is_staff and admin.check_password("a-long-password-1")
        ev = AuditEvent.objects.get(action="tenant.created")
        assert ev.actor_ref == f"staff:{staff.pk}:{staff.username}" and ev.after["slug"] == slug
        ev = AuditEvent.objects.get(action="user.created", target_id="founder")
        assert ev.actor_ref == f"staff:{staff.pk}:{staff.username}" and ev.after["first_admin"] is True
    # The new admin signs in to the new console at once.
    t = Client(HTTP_HOST=f"{slug}.localhost")
    t.get("/console/login/")
    assert t.post("/console/login/", {"username": "founder", "password": "a-long-password-1"}).status_code == 302
    assert t.get("/console/").status_code == 200


def test_bad_tenant_input_is_refused_and_creates_nothing(console_tenant):
    c, _ = staff_client(is_staff=True)
    r = c.post("/console/platform/", form(console_tenant.tenant.slug))
    assert r.status_code == 409 and "already exists" in r.content.decode()
    r = c.post("/console/platform/", form("x"))
    assert r.status_code == 400
    slug = f"p{uuid.uuid4().hex[:8]}"
    r = c.post("/console/platform/", form(slug, admin_password="short"))
    assert r.status_code == 400 and not Tenant.objects.filter(slug=slug).exists()
    r = c.post("/console/platform/", form(slug, admin_username="bad name!"))
    assert r.status_code == 400 and not Tenant.objects.filter(slug=slug).exists()


def test_only_platform_staff_on_the_public_host(console_tenant):
    c, _ = staff_client(is_staff=False)
    slug = f"p{uuid.uuid4().hex[:8]}"
    r = c.post("/console/platform/", form(slug))
    assert r.status_code == 403 and not Tenant.objects.filter(slug=slug).exists()
    # A tenant's admin on the tenant host does not reach the platform page.
    r = console_tenant.client("admin1").get("/console/platform/")
    assert r.status_code == 404
