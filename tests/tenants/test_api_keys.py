"""API keys: shown once, stored hashed, scoped, revocable -- and every auth
failure is a problem+json with a stable code."""
from __future__ import annotations

from django.db import connection

from core.actors import Actor
from tenants.models import ApiKey
from tenants.services.tenants import tenant_status_set
from tests.problems import assert_problem


def _row_text(key_id: int) -> str:
    """The whole stored row, as PostgreSQL has it."""
    with connection.cursor() as cur:
        cur.execute("SELECT row_to_json(k)::text FROM tenants_apikey k WHERE id = %s", [key_id])
        return cur.fetchone()[0]


def test_api_key_lifecycle(tenant_a, api_client):
    admin = api_client(tenant_a.api_key.plaintext)

    created = admin.post("/v1/api-keys", {"name": "reporting", "scopes": ["ledger:read"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    plaintext = body["key"]
    assert plaintext.startswith(f"zk_{body['prefix']}_")
    assert body["scopes"] == ["ledger:read"] and body["revoked_at"] is None and body["last_used_at"] is None
    assert body["created_by"] == f"api_key:{tenant_a.api_key.api_key.prefix}"

    # Shown once: the list never carries the key again, and the row holds only a hash.
    listed = admin.get("/v1/api-keys").json()["data"]
    assert [k for k in listed if k["id"] == body["id"]][0].keys() == body.keys() - {"key"}
    secret = plaintext.split("_", 2)[2]
    assert secret not in _row_text(body["id"])
    assert plaintext not in _row_text(body["id"])

    used = api_client(plaintext).get("/v1/tenant")
    assert used.status_code == 200, used.content
    assert used.json()["tenant"] == tenant_a.tenant.slug
    assert used.json()["api_key_prefix"] == body["prefix"]
    assert ApiKey.objects.get(pk=body["id"]).last_used_at is not None

    revoked = admin.post(f"/v1/api-keys/{body['id']}/revoke")
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["revoked_at"] is not None

    after = api_client(plaintext).get("/v1/tenant")
    assert_problem(after, 401, "api_key_revoked")
    assert after["WWW-Authenticate"].startswith("Bearer")

    # Revoking twice is harmless and keeps the first revocation time.
    again = admin.post(f"/v1/api-keys/{body['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_unknown_key_is_invalid(tenant_a, api_client):
    assert_problem(api_client("zk_000000000000_not-a-real-secret").get("/v1/tenant"), 401, "invalid_api_key")


def test_right_prefix_wrong_secret_is_invalid(tenant_a, api_client):
    prefix = tenant_a.api_key.api_key.prefix
    assert_problem(api_client(f"zk_{prefix}_guessed-secret").get("/v1/tenant"), 401, "invalid_api_key")


def test_malformed_keys_are_invalid(tenant_a, api_client):
    for raw in ("zk_", "zk_onlyprefix", "sk_live_123", "not a key at all"):
        assert_problem(api_client(raw).get("/v1/tenant"), 401, "invalid_api_key")
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {tenant_a.api_key.plaintext}")
    assert_problem(client.get("/v1/tenant"), 401, "invalid_api_key")


def test_missing_key_is_not_authenticated(api_client):
    response = api_client().get("/v1/tenant")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_problem(api_client().post("/v1/api-keys", {}, format="json"), 401, "not_authenticated")


def test_wrong_scope_is_forbidden(tenant_a, api_client):
    admin = api_client(tenant_a.api_key.plaintext)
    reader = admin.post("/v1/api-keys", {"name": "reader", "scopes": ["ledger:read"]}, format="json").json()
    client = api_client(reader["key"])

    body = assert_problem(
        client.post("/v1/api-keys", {"name": "escalate", "scopes": ["admin"]}, format="json"),
        403, "insufficient_scope",
    )
    assert body["required_scope"] == "admin"
    assert_problem(client.get("/v1/api-keys"), 403, "insufficient_scope")
    assert_problem(client.post(f"/v1/api-keys/{reader['id']}/revoke"), 403, "insufficient_scope")
    assert not ApiKey.objects.filter(tenant=tenant_a.tenant, name="escalate").exists()
    # The scope it does have still works.
    assert client.get("/v1/tenant").status_code == 200


def test_unknown_scope_is_a_validation_error(tenant_a, api_client):
    admin = api_client(tenant_a.api_key.plaintext)
    response = admin.post("/v1/api-keys", {"name": "x", "scopes": ["ledger:everything"]}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"].startswith("scopes")
    assert_problem(admin.post("/v1/api-keys", {"name": "x", "scopes": []}, format="json"), 400, "validation_error")


def test_suspended_tenant_key_is_refused(tenant_a, api_client):
    tenant = tenant_a.tenant
    tenant_status_set(actor=Actor.system("tests"), tenant=tenant, status=tenant.Status.SUSPENDED)
    assert_problem(api_client(tenant_a.api_key.plaintext).get("/v1/tenant"), 401, "invalid_api_key")
