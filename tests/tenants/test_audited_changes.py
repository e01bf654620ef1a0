"""Every change to a tenant, its keys, limits, status, domains and operators
has an actor and an audit event in the tenant's own log, written in the same
transaction as the change."""
from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.test import Client
from django_tenants.utils import schema_context

from core.actors import Actor
from audit.models import AuditEvent
from tenants.models import ApiKey, Domain, Tenant
from tenants.services.limits import tenant_limits_set
from tenants.services.tenants import tenant_create, tenant_domain_add, tenant_status_set
from tests.problems import assert_problem
from users.models import User
from users.services.users import user_ensure

SUPPORT = Actor(kind="staff", ref="staff:7:support", label="support")


def events(tenant: Tenant, action: str) -> list[AuditEvent]:
    with schema_context(tenant.schema_name):
        return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_tenant_create_records_the_tenant_and_its_first_key():
    slug = f"t{uuid.uuid4().hex[:10]}"
    made = tenant_create(actor=SUPPORT, slug=slug, domain=f"{slug}.localhost", with_api_key=True)
    [created] = events(made.tenant, "tenant.created")
    assert created.actor_ref == "staff:7:support" and created.target_id == slug
    assert created.after == {"slug": slug, "name": slug, "schema": made.tenant.schema_name,
                             "domain": f"{slug}.localhost", "status": "active"}
    [key] = events(made.tenant, "api_key.created")
    assert key.actor_ref == "staff:7:support" and key.target_id == made.api_key.api_key.prefix
    assert made.api_key.api_key.created_by == "staff:7:support"
    assert made.api_key.plaintext not in str(key.after) and key.after["name"] == "initial"


def test_api_key_create_and_revoke_over_the_api_are_audited_with_the_calling_key(tenant_a, api_client):
    admin = api_client(tenant_a.api_key.plaintext)
    caller = f"api_key:{tenant_a.api_key.api_key.prefix}"
    body = admin.post("/v1/api-keys", {"name": "reporting", "scopes": ["ledger:read"]}, format="json").json()
    [created] = events(tenant_a.tenant, "api_key.created")[-1:]
    assert (created.actor_ref, created.target_id) == (caller, body["prefix"])
    assert created.after == {"name": "reporting", "scopes": ["ledger:read"]}

    assert admin.post(f"/v1/api-keys/{body['id']}/revoke").status_code == 200
    assert admin.post(f"/v1/api-keys/{body['id']}/revoke").status_code == 200  # twice: one change, one event
    [revoked] = events(tenant_a.tenant, "api_key.revoked")
    revoked_at = ApiKey.objects.get(pk=body["id"]).revoked_at
    assert (revoked.actor_ref, revoked.target_id) == (caller, body["prefix"])
    assert revoked.before == {"revoked_at": None} and revoked.after == {"revoked_at": revoked_at.isoformat()}


def test_limits_change_is_audited_with_before_and_after(tenant_a):
    tenant = tenant_a.tenant
    tenant_limits_set(actor=SUPPORT, tenant=tenant, requests_per_minute=30, export_rows=5)
    tenant_limits_set(actor=SUPPORT, tenant=tenant, export_rows=None)
    tenant_limits_set(actor=SUPPORT, tenant=tenant, requests_per_minute=30)  # no change, no event
    first, second = events(tenant, "tenant.limits_changed")
    assert first.actor_ref == "staff:7:support" and first.target_id == tenant.slug
    assert (first.before, first.after) == ({}, {"requests_per_minute": 30, "export_rows": 5})
    assert (second.before, second.after) == ({"requests_per_minute": 30, "export_rows": 5}, {"requests_per_minute": 30})
    assert Tenant.objects.get(pk=tenant.pk).limits == {"requests_per_minute": 30}


def test_a_refused_limit_changes_nothing_and_records_nothing(tenant_a):
    from core import errors

    with pytest.raises(errors.ValidationFailed):
        tenant_limits_set(actor=SUPPORT, tenant=tenant_a.tenant, requests_per_minute=30, max_page_size=0)
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).limits in ({}, None)
    assert events(tenant_a.tenant, "tenant.limits_changed") == []


def test_limits_and_status_are_their_own_transaction(tenant_a):
    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            tenant_limits_set(actor=SUPPORT, tenant=tenant_a.tenant, requests_per_minute=30)
    with pytest.raises(RuntimeError, match="durable"):
        with transaction.atomic():
            tenant_status_set(actor=SUPPORT, tenant=tenant_a.tenant, status=Tenant.Status.SUSPENDED)
    assert Tenant.objects.get(pk=tenant_a.tenant.pk).status == Tenant.Status.ACTIVE


def test_suspend_and_reactivate_are_audited_and_take_effect(tenant_a, api_client):
    tenant = tenant_a.tenant
    tenant_status_set(actor=SUPPORT, tenant=tenant, status=Tenant.Status.SUSPENDED, reason="unpaid invoice")
    assert_problem(api_client(tenant_a.api_key.plaintext).get("/v1/tenant"), 401, "invalid_api_key")
    tenant_status_set(actor=SUPPORT, tenant=tenant, status=Tenant.Status.ACTIVE)
    assert api_client(tenant_a.api_key.plaintext).get("/v1/tenant").status_code == 200
    [suspended] = events(tenant, "tenant.suspended")
    [reactivated] = events(tenant, "tenant.reactivated")
    assert suspended.actor_ref == reactivated.actor_ref == "staff:7:support"
    assert (suspended.before, suspended.after) == ({"status": "active"}, {"status": "suspended"})
    assert suspended.metadata == {"reason": "unpaid invoice"}
    assert (reactivated.before, reactivated.after) == ({"status": "suspended"}, {"status": "active"})


def test_the_support_admin_suspends_through_the_service(tenant_a):
    with schema_context("public"):
        staff = User.objects.create_user(username=f"support_{uuid.uuid4().hex[:8]}", password="pw-support-12345",
                                         is_staff=True, is_superuser=True)
    c = Client(HTTP_HOST="localhost")
    c.get("/admin/login/")
    assert c.post("/admin/login/?next=/admin/", {"username": staff.username, "password": "pw-support-12345"}).status_code == 302
    tenant = tenant_a.tenant
    r = c.post("/admin/tenants/tenant/", {"action": "suspend_tenants", "_selected_action": [tenant.pk]})
    assert r.status_code == 302
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.SUSPENDED
    [ev] = events(tenant, "tenant.suspended")
    assert ev.actor_ref == f"staff:{staff.pk}:{staff.username}"
    # The change form does not edit the row behind the service's back, and domains are read-only.
    c.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {"name": "renamed", "status": "active"})
    assert Tenant.objects.get(pk=tenant.pk).name != "renamed"
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.SUSPENDED
    domain = Domain.objects.get(tenant=tenant)
    assert c.post(f"/admin/tenants/domain/{domain.pk}/change/", {"domain": "x.localhost"}).status_code == 403


def test_extra_domain_is_audited(tenant_a):
    slug = tenant_a.tenant.slug
    tenant_domain_add(actor=SUPPORT, tenant=tenant_a.tenant, domain=f"{slug}-alt.localhost")
    assert Domain.objects.filter(tenant=tenant_a.tenant, domain=f"{slug}-alt.localhost", is_primary=False).exists()
    [ev] = events(tenant_a.tenant, "tenant.domain_added")
    assert ev.actor_ref == "staff:7:support" and ev.after == {"domain": f"{slug}-alt.localhost", "is_primary": False}


def test_operator_create_and_update_are_audited_without_the_password(tenant_a):
    with schema_context(tenant_a.tenant.schema_name):
        user_ensure(actor=SUPPORT, username="ops", role="viewer", password="first-password-123")
        user_ensure(actor=SUPPORT, username="ops", role="operator", password="second-password-456")
        created, updated = (AuditEvent.objects.get(action=a, target_id="ops") for a in ("user.created", "user.updated"))
        assert User.objects.get(username="ops").role == "operator"
    assert created.actor_ref == updated.actor_ref == "staff:7:support"
    assert created.before is None and created.after["role"] == "viewer"
    assert updated.before["role"] == "viewer" and updated.after["role"] == "operator"
    for ev in (created, updated):
        assert "password" not in ev.after and "first-password-123" not in str(ev.metadata)
        assert ev.metadata == {"password_set": True}
