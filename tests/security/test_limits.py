"""Rate limits and per-tenant limits on every /v1 call."""
from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from core.redis import redis_client
from core.limits import tenant_limits_get
from tenants.services.limits import tenant_limits_set
from tests.problems import assert_problem
from core.actors import Actor


def test_rate_limit_answers_429_with_retry_after(tenant_a, api_client):
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, requests_per_minute=3)
    client = api_client(tenant_a.api_key.plaintext)
    assert [client.get("/v1/tenant").status_code for _ in range(3)] == [200, 200, 200]
    body = assert_problem(client.get("/v1/accounts"), 429, "rate_limited")
    assert body["retryable"] is True and body["limit"] == 3
    resp = client.get("/v1/tenant")
    assert 1 <= int(resp["Retry-After"]) <= 60


def test_rate_limit_is_per_key(tenant_a, tenant_b, api_client):
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, requests_per_minute=1)
    a, b = api_client(tenant_a.api_key.plaintext), api_client(tenant_b.api_key.plaintext)
    assert a.get("/v1/tenant").status_code == 200
    assert a.get("/v1/tenant").status_code == 429
    assert [b.get("/v1/tenant").status_code for _ in range(3)] == [200, 200, 200]


def test_rate_limit_counter_is_atomic_under_concurrency(tenant_a, api_client):
    """Many threads share one Redis counter: exactly `limit` requests pass."""
    from concurrent.futures import ThreadPoolExecutor

    from tenants.services.limits import rate_limit_consume

    bucket = f"test:{tenant_a.tenant.slug}"

    def hit(_):
        try:
            rate_limit_consume(bucket=bucket, limit=25)
            return True
        except Exception:  # noqa: BLE001 - RateLimited
            return False

    with ThreadPoolExecutor(8) as pool:
        passed = sum(pool.map(hit, range(60)))
    assert passed == 25


def test_the_counter_script_survives_a_flushed_script_cache(tenant_a, api_client):
    """The limiter sends the script's SHA (EVALSHA). Redis forgets its
    scripts on a restart or SCRIPT FLUSH: the next request loads it again
    and is still counted."""
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, requests_per_minute=2)
    client = api_client(tenant_a.api_key.plaintext)
    assert client.get("/v1/tenant").status_code == 200
    redis_client().script_flush()
    assert client.get("/v1/tenant").status_code == 200
    assert_problem(client.get("/v1/tenant"), 429, "rate_limited")


def test_redis_down_fails_open_with_a_warning(tenant_a, api_client, caplog):
    from core.redis import redis_client_for
    from tenants.services import limits

    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, requests_per_minute=1)
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"), caplog.at_level(logging.WARNING, "zentra.limits"):
        redis_client_for.cache_clear()
        limits._hit_script.cache_clear()
        client = api_client(tenant_a.api_key.plaintext)
        assert [client.get("/v1/tenant").status_code for _ in range(3)] == [200, 200, 200]
    redis_client_for.cache_clear()
    limits._hit_script.cache_clear()
    assert "Redis unavailable" in caplog.text


def test_page_size_is_capped_per_tenant(tenant_a, api_client):
    client = api_client(tenant_a.api_key.plaintext)
    for i in range(4):
        assert client.post("/v1/accounts", {"code": f"acc{i}", "name": "A", "currency": "USD",
                                            "normal_side": "credit", "kind": "liability"},
                           format="json").status_code == 201
    assert len(client.get("/v1/accounts?limit=4").json()["results"]) == 4
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, max_page_size=2)
    page = client.get("/v1/accounts?limit=100").json()
    assert len(page["results"]) == 2 and page["next"]


def test_body_size_limit_per_tenant(tenant_a, api_client):
    client = api_client(tenant_a.api_key.plaintext)
    body = {"code": "big", "name": "x" * 150, "currency": "USD", "normal_side": "credit", "kind": "liability"}
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, max_body_bytes=100)
    assert_problem(client.post("/v1/accounts", body, format="json"), 413, "payload_too_large")
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, max_body_bytes=None)
    assert client.post("/v1/accounts", body, format="json").status_code == 201


def test_limits_default_from_settings_and_reject_junk(tenant_a):
    from django.conf import settings

    tenant_a.tenant.limits = {"requests_per_minute": "lots", "max_page_size": -1, "export_rows": 10}
    got = tenant_limits_get(tenant=tenant_a.tenant)
    assert got.requests_per_minute == settings.ZENTRA_DEFAULT_LIMITS["requests_per_minute"]
    assert got.max_page_size == settings.ZENTRA_DEFAULT_LIMITS["max_page_size"]
    assert got.export_rows == 10
    # A tenant is never allowed a larger body than the platform ceiling.
    tenant_a.tenant.limits = {"max_body_bytes": settings.MAX_BODY_BYTES * 10}
    assert tenant_limits_get(tenant=tenant_a.tenant).max_body_bytes == settings.MAX_BODY_BYTES
    from core import errors

    with pytest.raises(errors.ValidationFailed):
        tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, requests_per_minute=0)
    with pytest.raises(errors.ValidationFailed):
        tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, bananas=3)


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Counters are keyed by API-key prefix (unique per test), but a test's
    bucket name may repeat across runs within a minute."""
    r = redis_client()
    for k in r.scan_iter("zentra:rl:test:*"):
        r.delete(k)
    yield


def test_nul_characters_are_400_not_500(tenant_a, api_client):
    """Found by the fuzzer: PostgreSQL text cannot hold NUL (was a DataError 500)."""
    client = api_client(tenant_a.api_key.plaintext)
    assert_problem(client.get("/v1/policies", {"name": "a\x00b"}), 400, "validation_error")
    assert_problem(client.get("/v1/accounts/a%00b"), 400, "validation_error")
    assert_problem(client.post("/v1/accounts", {"code": "nul", "name": "a\x00", "currency": "USD",
                                                "normal_side": "credit", "kind": "liability"}, format="json"),
                   400, "validation_error")
    assert client.get("/v1/accounts/x%0Ay").status_code == 404
    assert client.get("/v1/nowhere%0A")["Content-Type"] == "application/problem+json"


def test_export_over_the_tenants_row_limit_is_refused_whole(tenant_a, api_client):
    """Refused before anything is written, with a stable code, rather than a
    truncated file that would look complete."""
    from django_tenants.utils import tenant_context

    from audit.models import Export

    client = api_client(tenant_a.api_key.plaintext)
    for i in range(3):
        assert client.post("/v1/accounts", {"code": f"ex{i}", "name": "A", "currency": "USD",
                                            "normal_side": "credit", "kind": "liability"}, format="json").status_code == 201
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, export_rows=2)
    body = assert_problem(client.post("/v1/exports", {"kind": "audit_events"}, format="json"), 422, "export_too_large")
    assert body["limit"] == 2 and "Narrow the filters" in body["detail"]
    with tenant_context(tenant_a.tenant):
        assert Export.objects.count() == 0
    # Narrowed to what fits: accepted.
    narrow = client.post("/v1/exports", {"kind": "audit_events", "filters": {"target_id": "ex1"}}, format="json")
    assert narrow.status_code == 201, narrow.content
    tenant_limits_set(actor=Actor.system("tests"), tenant=tenant_a.tenant, export_rows=None)
    assert client.post("/v1/exports", {"kind": "audit_events"}, format="json").status_code == 201
