"""Django admin for support: tenant-aware, read-only money, audited safe actions."""
from __future__ import annotations


from django.test import Client
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from ledger.models import LedgerEntry
from tenants.models import ApiKey
from users.models import User

from .conftest import PASSWORD


def admin_login(client: Client, username: str, password: str = PASSWORD):
    client.get("/admin/login/")
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_tenant_staff_sees_that_tenants_ledger_read_only(console_tenant):
    c = Client(HTTP_HOST=console_tenant.host)
    assert admin_login(c, "admin1").status_code == 302
    index = c.get("/admin/").content.decode()
    for label in ("Ledger entries", "Policies", "Accounts", "Idempotency records", "Audit events", "Events", "Approval requests"):
        assert label in index, label
    assert "Tenants" not in index and "Api keys" not in index  # public models stay on the platform host
    with console_tenant.schema():
        entry = LedgerEntry.objects.get(idempotency_key="led_8172")
    listing = c.get("/admin/ledger/ledgerentry/?q=led_8172")
    assert listing.status_code == 200 and entry.posting_id in listing.content.decode()
    assert c.get("/admin/ledger/ledgerentry/?kind__exact=standard").status_code == 200
    detail = c.get(f"/admin/ledger/ledgerentry/{entry.pk}/change/")
    assert detail.status_code == 200 and "customer_balance" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()
    assert c.get("/admin/ledger/ledgerentry/add/").status_code == 403
    assert c.get(f"/admin/ledger/ledgerentry/{entry.pk}/delete/").status_code == 403
    r = c.post(f"/admin/ledger/ledgerentry/{entry.pk}/change/", {"description": "edited"})
    assert r.status_code == 403
    for path in ("/admin/audit/auditevent/?q=approval", "/admin/events/event/", "/admin/ledger/account/?currency=USD",
                 "/admin/ledger/idempotencyrecord/?q=led", "/admin/ledger/ledgerline/", "/admin/ledger/policy/",
                 "/admin/ledger/approvalrequest/"):
        assert c.get(path).status_code == 200, path
    with console_tenant.schema():
        assert LedgerEntry.objects.get(pk=entry.pk).description == entry.description


def test_non_staff_tenant_users_cannot_use_the_admin(console_tenant):
    c = Client(HTTP_HOST=console_tenant.host)
    r = admin_login(c, "operator1")
    assert r.status_code == 200 and "staff account" in r.content.decode()
    assert c.get("/admin/ledger/ledgerentry/").status_code == 302


def test_other_tenant_staff_cannot_log_in_here(console_tenant, other_tenant):
    with other_tenant.schema():
        User.objects.create_user(username="b_support", password=PASSWORD, is_staff=True)
    c = Client(HTTP_HOST=console_tenant.host)
    assert admin_login(c, "b_support").status_code == 200  # unknown in A's schema


def test_public_admin_revokes_a_key_and_audits_it_in_the_tenant(console_tenant):
    with schema_context("public"):
        staff = User.objects.create_user(username=f"support_{console_tenant.tenant.slug}", password=PASSWORD,
                                         is_staff=True, is_superuser=True)
    c = Client(HTTP_HOST="localhost")
    assert admin_login(c, staff.username).status_code == 302
    index = c.get("/admin/").content.decode()
    assert "Api keys" in index and "Ledger entries" not in index
    key = console_tenant.provisioned.api_key.api_key
    page = c.get("/admin/tenants/apikey/").content.decode()
    assert "revoke_keys" in page and "secret_hash" not in page
    r = c.post("/admin/tenants/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert r.status_code == 302
    key = ApiKey.objects.get(pk=key.pk)
    assert key.revoked_at is not None
    with console_tenant.schema():
        ev = AuditEvent.objects.get(action="api_key.revoked", target_id=key.prefix)
        assert ev.actor_ref == f"staff:{staff.pk}:{staff.username}" and ev.metadata["via"] == "admin"
    assert c.get(f"/admin/tenants/apikey/{key.pk}/delete/").status_code == 403
    # The revoked key no longer opens the API.
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {console_tenant.provisioned.api_key.plaintext}")
    assert api.get("/v1/accounts").status_code == 401


def test_admin_changes_no_ledger_or_evidence_row(console_tenant):
    """Append-only proof through the admin: for every ledger, audit and
    webhook model it shows, the change form, the delete view and the bulk
    delete action change 0 rows (refused, or rendered read-only)."""
    from django.contrib import admin

    c = Client(HTTP_HOST=console_tenant.host)
    assert admin_login(c, "admin1").status_code == 302
    models = [m for m in admin.site._registry if m._meta.app_label in {"ledger", "audit", "webhooks"}]
    assert LedgerEntry in models and AuditEvent in models

    def snapshot():
        # Rows a background worker may legitimately move (deliveries, holds
        # expiring, endpoints' failure clocks) are left out of the comparison.
        stable = [m for m in models if m._meta.model_name not in {"delivery", "webhookendpoint", "hold", "export"}]
        with console_tenant.schema():
            return {m._meta.label: sorted(map(str, m.objects.values_list())) for m in stable}

    before = snapshot()
    tried = 0
    for model in models:
        with console_tenant.schema():
            pks = list(model.objects.values_list("pk", flat=True)[:3])
        if not pks:
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        c.post(base, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
        r = c.post(f"{base}{pks[0]}/delete/", {"post": "yes"})
        assert r.status_code in (403, 404, 302), (model, r.status_code)
        c.post(f"{base}{pks[0]}/change/", {"description": "edited", "name": "edited", "status": "closed"})
        tried += 1
    assert tried >= 4
    assert snapshot() == before
