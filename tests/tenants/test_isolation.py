"""One tenant never reaches another: not through the API key, not through a
console session, not by logging in at another tenant's hostname."""
from __future__ import annotations

from django.test import Client
from django_tenants.utils import schema_context

from tenants.models import ApiKey
from tests.problems import assert_problem
from users.services.users import user_ensure
from core.actors import Actor

PASSWORD = "correct-horse-battery"


def _operator(provisioned, username: str = "ops"):
    with schema_context(provisioned.tenant.schema_name):
        return user_ensure(actor=Actor.system("tests"), username=username, role="operator", password=PASSWORD)


def test_key_lists_only_its_own_tenants_keys(tenant_a, tenant_b, api_client):
    listed = api_client(tenant_a.api_key.plaintext).get("/v1/api-keys").json()["data"]
    prefixes = {k["prefix"] for k in listed}
    assert tenant_a.api_key.api_key.prefix in prefixes
    assert tenant_b.api_key.api_key.prefix not in prefixes
    assert prefixes == set(ApiKey.objects.filter(tenant=tenant_a.tenant).values_list("prefix", flat=True))


def test_key_cannot_revoke_another_tenants_key(tenant_a, tenant_b, api_client):
    b_key = tenant_b.api_key.api_key
    assert_problem(api_client(tenant_a.api_key.plaintext).post(f"/v1/api-keys/{b_key.pk}/revoke"), 404, "not_found")
    b_key.refresh_from_db()
    assert b_key.revoked_at is None
    assert api_client(tenant_b.api_key.plaintext).get("/v1/tenant").json()["tenant"] == tenant_b.tenant.slug


def test_key_sees_its_own_tenant(tenant_a, tenant_b, api_client):
    for t in (tenant_a, tenant_b):
        body = api_client(t.api_key.plaintext).get("/v1/tenant").json()
        assert (body["tenant"], body["schema"]) == (t.tenant.slug, t.tenant.schema_name)


def test_console_session_does_not_cross_tenants(tenant_a, tenant_b):
    _operator(tenant_a)
    client = Client()
    host_a, host_b = tenant_a.domain.domain, tenant_b.domain.domain

    login = client.post("/console/login/", {"username": "ops", "password": PASSWORD}, HTTP_HOST=host_a)
    assert login.status_code == 302 and login["Location"] == "/console/"
    page = client.get("/console/", HTTP_HOST=host_a)
    assert page.status_code == 200
    assert tenant_a.tenant.name.encode() in page.content

    # The same cookie jar at B's hostname: B's schema has no such session.
    other = client.get("/console/", HTTP_HOST=host_b)
    assert other.status_code == 302
    assert other["Location"].startswith("/console/login/")
    assert tenant_b.tenant.schema_name.encode() not in other.content


def test_user_of_a_cannot_log_in_at_b(tenant_a, tenant_b):
    _operator(tenant_a)
    client = Client()
    host_b = tenant_b.domain.domain
    refused = client.post("/console/login/", {"username": "ops", "password": PASSWORD}, HTTP_HOST=host_b)
    assert refused.status_code == 200  # the form again, with an error
    assert b"didn't match" in refused.content
    assert client.get("/console/", HTTP_HOST=host_b).status_code == 302


def test_same_username_in_two_tenants_are_two_people(tenant_a, tenant_b):
    _operator(tenant_a)
    with schema_context(tenant_b.tenant.schema_name):
        user_ensure(actor=Actor.system("tests"), username="ops", role="viewer", password="a-different-password")
    client = Client()
    refused = client.post("/console/login/", {"username": "ops", "password": PASSWORD}, HTTP_HOST=tenant_b.domain.domain)
    assert refused.status_code == 200


def test_console_on_unknown_host_is_not_served(tenant_a):
    _operator(tenant_a)
    client = Client()
    client.post("/console/login/", {"username": "ops", "password": PASSWORD}, HTTP_HOST=tenant_a.domain.domain)
    # No tenant owns this hostname: the console is not served at all.
    assert client.get("/console/", HTTP_HOST="nobody.localhost").status_code in (403, 404)
