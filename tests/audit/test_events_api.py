from __future__ import annotations

from urllib.parse import quote

import pytest
from django_tenants.utils import tenant_context

from core.actors import Actor
from audit.models import AuditEvent
from audit.services.chain import chain_seal
from tenants.services.api_keys import api_key_create
from tests.audit.conftest import log_size, pending


@pytest.fixture
def seeded(tenant_a, record_events):
    t = tenant_a.tenant
    record_events(t, 3, action="account.created", target_type="account", target_id="customer_balance")
    record_events(t, 2, action="ledger_entry.posted", target_type="ledger_entry", target_id=41,
                  metadata={"accounts": ["customer_balance", "reserved"], "idempotency_key": "k1"})
    record_events(t, 1, action="hold.created", target_type="hold", target_id=7, metadata={"account": "reserved"},
                  actor=Actor(kind="user", ref="user:3:olga", label="olga"))
    with tenant_context(t):
        chain_seal()
    return tenant_a


def ids_of(resp) -> list[int]:
    assert resp.status_code == 200, resp.content
    return [row["id"] for row in resp.json()["results"]]


def test_lists_newest_first_with_chain_seq(seeded, api):
    base = log_size(seeded.tenant) - 6
    body = api.get("/v1/audit-events").json()
    rows = body["results"]
    assert len(rows) == base + 6 and [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert all(r["chain_seq"] is not None for r in rows)
    first = rows[-1 - base]  # the oldest the test wrote, after the tenant's provisioning events
    assert first["action"] == "account.created" and first["actor_ref"] == "system:tests"
    assert set(first) >= {"occurred_at", "before", "after", "policy_context", "correlation_id", "ip", "metadata"}


@pytest.mark.parametrize("query, expected", [
    ("action=account.created", 3),
    ("target_type=ledger_entry", 2),
    ("target_type=hold&target_id=7", 1),
    ("actor=user:3:olga", 1),
    ("account=customer_balance", 5),   # 3 as target, 2 via metadata.accounts
    ("account=reserved", 3),           # 2 via metadata.accounts, 1 via metadata.account
    ("account=nobody", 0),
    ("action=nothing.like.this", 0),
])
def test_filters(seeded, api, query, expected):
    assert len(ids_of(api.get(f"/v1/audit-events?{query}"))) == expected


def test_time_range_and_correlation_id(seeded, api, record_events):
    with tenant_context(seeded.tenant):
        events = list(AuditEvent.objects.order_by("id"))
    mid = events[3].occurred_at
    after = ids_of(api.get(f"/v1/audit-events?occurred_after={quote(mid.isoformat())}"))
    before = ids_of(api.get(f"/v1/audit-events?occurred_before={quote(mid.isoformat())}"))
    assert set(after) | set(before) == {e.id for e in events} and not set(after) & set(before)
    assert events[3].id in after
    same = ids_of(api.get(f"/v1/audit-events?occurred_after={quote(mid.isoformat())}"
                          f"&occurred_before={quote(mid.isoformat())}"))
    assert same == []
    resp = api.get("/v1/audit-events", HTTP_X_CORRELATION_ID="cid-compliance-42")
    assert resp["X-Correlation-Id"] == "cid-compliance-42"
    assert ids_of(api.get(f"/v1/audit-events?correlation_id={events[0].correlation_id}"))


def test_cursor_pages_cover_everything_once(seeded, api, record_events):
    base = log_size(seeded.tenant) - 6
    record_events(seeded.tenant, 7)
    seen, url = [], "/v1/audit-events?limit=4"
    while url:
        body = api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        assert len(body["results"]) <= 4
        url = body["next"]
    assert len(seen) == len(set(seen)) == base + 13 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("query, status, code", [
    ("actorr=x", 400, "unknown_filter"),
    ("tenant=someone-else", 400, "unknown_filter"),
    ("occurred_after=2026-02-01T00:00:00Z&occurred_before=2026-01-01T00:00:00Z", 400, "invalid_range"),
    ("occurred_after=yesterday", 400, "validation_error"),
    ("action=", 400, "validation_error"),
    ("target_id=" + "x" * 101, 400, "validation_error"),
    ("cursor=not-a-cursor", 400, "invalid_cursor"),
])
def test_bad_input_is_a_clear_4xx(seeded, api, query, status, code):
    resp = api.get(f"/v1/audit-events?{query}")
    assert resp.status_code == status, resp.content
    assert resp["Content-Type"].startswith("application/problem+json")
    assert resp.json()["code"] == code


def test_scope_is_required(seeded, api_client):
    key = api_key_create(actor=Actor.system("tests"), tenant=seeded.tenant, name="ledger only", scopes=["ledger:read"])
    client = api_client(key.plaintext)
    for path in ("/v1/audit-events", "/v1/audit/verify"):
        resp = client.get(path)
        assert resp.status_code == 403 and resp.json()["code"] == "insufficient_scope"
    assert client.post("/v1/exports", {"kind": "audit_events"}, format="json").status_code == 403
    assert api_client().get("/v1/audit-events").status_code == 401


def test_another_tenants_events_are_never_visible(seeded, tenant_b, api_client, record_events):
    mine = record_events(tenant_b.tenant, 2, action="b.only", target_type="account", target_id="customer_balance")
    client_b = api_client(tenant_b.api_key.plaintext)
    b_ids = ids_of(client_b.get("/v1/audit-events?action=b.only"))
    assert b_ids == sorted(mine, reverse=True)
    assert ids_of(client_b.get("/v1/audit-events?action=account.created")) == []
    assert ids_of(client_b.get("/v1/audit-events?account=customer_balance")) == b_ids
    assert set(ids_of(client_b.get("/v1/audit-events"))) >= set(b_ids)
    a_actions = {r["action"] for r in api_client(seeded.api_key.plaintext).get("/v1/audit-events").json()["results"]}
    assert "b.only" not in a_actions


def test_verify_endpoint(seeded, api, record_events):
    base = log_size(seeded.tenant) - 6
    body = api.get("/v1/audit/verify").json()
    assert body["ok"] is True and body["links_checked"] == base + 6 and body["first_broken"] is None
    assert body["head"]["seq"] == base + 6 and len(body["head"]["hash"]) == 64
    assert pending(body["unsealed"]) == {}
    record_events(seeded.tenant, 2)
    body = api.get("/v1/audit/verify").json()  # seals first
    assert body["ok"] and body["sealed_now"] == 2 and body["head"]["seq"] == base + 8


def test_verify_endpoint_names_the_broken_link(seeded, api):
    from django.db import connection

    from tests.audit.conftest import raw_tamper

    with tenant_context(seeded.tenant):
        victim = AuditEvent.objects.order_by("id")[2]
        with raw_tamper(), connection.cursor() as cur:
            cur.execute("UPDATE audit_auditevent SET occurred_at = occurred_at + interval '1 microsecond' WHERE id = %s",
                        [victim.id])
    body = api.get("/v1/audit/verify").json()
    assert body["ok"] is False
    assert body["first_broken"]["record_id"] == victim.id
    assert body["first_broken"]["seq"] == 3 and body["first_broken"]["reason"] == "content_changed"


def test_openapi_schema_lists_the_audit_routes(api):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert {"/v1/audit-events", "/v1/audit/verify", "/v1/exports", "/v1/exports/{export_id}/file",
            "/v1/exports/{export_id}/manifest"} <= set(paths)
