"""Bad input gets a clear 4xx problem+json with a stable code -- never a 500,
and nothing is written."""
from __future__ import annotations

import json

import pytest
from django.conf import settings

from tenants.models import ApiKey
from tests.problems import assert_problem


@pytest.fixture
def admin(tenant_a, api_client):
    return api_client(tenant_a.api_key.plaintext)


@pytest.fixture
def keys_before(tenant_a):
    return ApiKey.objects.filter(tenant=tenant_a.tenant).count()


def _nothing_written(tenant_a, keys_before):
    assert ApiKey.objects.filter(tenant=tenant_a.tenant).count() == keys_before


@pytest.mark.parametrize("raw", [b'{"name": ', b"{'name': 'x'}", b"\xff\xfe\x00", b"[1, 2", b"NaN-ish"])
def test_malformed_json(admin, tenant_a, keys_before, raw):
    assert_problem(admin.generic("POST", "/v1/api-keys", raw, content_type="application/json"), 400, "malformed_json")
    _nothing_written(tenant_a, keys_before)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type(admin, tenant_a, keys_before, content_type):
    body = json.dumps({"name": "x", "scopes": ["ledger:read"]})
    response = admin.generic("POST", "/v1/api-keys", body, content_type=content_type)
    assert_problem(response, 415, "unsupported_media_type")
    _nothing_written(tenant_a, keys_before)


def test_oversized_body(admin, tenant_a, keys_before):
    limit = settings.MAX_BODY_BYTES
    padding = "x" * (limit + 1)
    body = json.dumps({"name": "big", "scopes": ["ledger:read"], "pad": padding})
    response = admin.generic("POST", "/v1/api-keys", body, content_type="application/json")
    problem = assert_problem(response, 413, "payload_too_large")
    assert str(limit) in problem["detail"]
    _nothing_written(tenant_a, keys_before)


def test_oversized_body_is_refused_before_authentication(api_client):
    body = "x" * (settings.MAX_BODY_BYTES + 1)
    assert_problem(
        api_client().generic("POST", "/v1/api-keys", body, content_type="application/json"), 413, "payload_too_large"
    )


def test_invalid_content_length(admin):
    response = admin.generic("POST", "/v1/api-keys", b"{}", content_type="application/json", CONTENT_LENGTH="abc")
    assert_problem(response, 400, "invalid_content_length")


def test_unknown_fields(admin, tenant_a, keys_before):
    response = admin.post(
        "/v1/api-keys", {"name": "x", "scopes": ["ledger:read"], "tenant": "someone-else", "prefix": "mine"},
        format="json",
    )
    body = assert_problem(response, 400, "unknown_field")
    assert set(body["fields"]) == {"tenant", "prefix"}
    _nothing_written(tenant_a, keys_before)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "a string",
        42,
        None,
        {},
        {"name": "x"},
        {"name": "", "scopes": ["ledger:read"]},
        {"name": "x" * 101, "scopes": ["ledger:read"]},
        {"name": "nul\u0000byte", "scopes": ["ledger:read"]},
        {"name": {"nested": 1}, "scopes": ["ledger:read"]},
        {"name": "x", "scopes": "ledger:read"},
        {"name": "x", "scopes": [None]},
    ],
)
def test_invalid_bodies_are_400(admin, tenant_a, keys_before, payload):
    response = admin.generic("POST", "/v1/api-keys", json.dumps(payload), content_type="application/json")
    assert_problem(response, 400, "validation_error")
    _nothing_written(tenant_a, keys_before)


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/ledger-entries-typo/1", "/v1/api-keys/abc/revoke", "/v1/"])
def test_unknown_api_path_is_404_problem(admin, api_client, path):
    for client in (admin, api_client()):
        for method in ("get", "post", "delete"):
            assert_problem(getattr(client, method)(path), 404, "not_found")


def test_wrong_method_is_405_problem(admin):
    assert_problem(admin.delete("/v1/tenant"), 405, "method_not_allowed")
    assert_problem(admin.put("/v1/api-keys", {}, format="json"), 405, "method_not_allowed")


def test_revoke_unknown_id_is_404(admin):
    assert_problem(admin.post("/v1/api-keys/999999999/revoke"), 404, "not_found")
    assert_problem(admin.post(f"/v1/api-keys/{2**70}/revoke"), 404, "not_found")
