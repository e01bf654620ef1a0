"""Webhook endpoint management through the API (scope webhooks:manage)."""
from audit.models import AuditEvent
from tests.webhooks.conftest import emit, in_tenant
from events.models import Event
from webhooks.models import WebhookEndpoint
from core.signing import secret_decrypt
from core.actors import Actor


def _create(api, url, **extra):
    return api.post("/v1/webhook-endpoints", {"url": url, "event_types": ["ledger.*"], **extra}, format="json")


def test_create_reveals_the_secret_once_and_stores_it_encrypted(tenant_a, api, receiver):
    resp = _create(api, receiver.url, description="books")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert body["id"].startswith("ep_") and body["enabled"] is True and body["event_types"] == ["ledger.*"]

    got = api.get(f"/v1/webhook-endpoints/{body['id']}").json()
    assert "secret" not in got and secret not in str(got)
    listed = api.get("/v1/webhook-endpoints").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]] and secret not in str(listed)

    with in_tenant(tenant_a):
        row = WebhookEndpoint.objects.filter(public_id=body["id"]).values().get()
        assert all(secret not in str(v) for v in row.values())
        assert secret_decrypt(row["secret_encrypted"]) == secret
        audit = AuditEvent.objects.get(action="webhook_endpoint.create", target_id=body["id"])
        assert audit.actor_ref.startswith("api_key:") and secret not in str(audit.after)


def test_update_rotate_disable_enable_are_audited(tenant_a, api, receiver):
    ep = _create(api, receiver.url).json()
    path = f"/v1/webhook-endpoints/{ep['id']}"

    resp = api.patch(path, {"event_types": ["ledger.entry.created", "account.*"], "description": "d2"}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["event_types"] == ["account.*", "ledger.entry.created"]

    rotated = api.post(f"{path}/rotate-secret", format="json")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != ep["secret"] and rotated.json()["previous_secret_valid_until"]

    disabled = api.post(f"{path}/disable", format="json").json()
    assert disabled["enabled"] is False and disabled["disabled_reason"] == "manual"
    enabled = api.post(f"{path}/enable", format="json").json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] == ""

    with in_tenant(tenant_a):
        actions = list(AuditEvent.objects.filter(target_id=ep["id"]).order_by("id").values_list("action", flat=True))
        assert actions == [
            "webhook_endpoint.create", "webhook_endpoint.update", "webhook_endpoint.rotate_secret",
            "webhook_endpoint.disable", "webhook_endpoint.enable",
        ]
        dumped = str(list(AuditEvent.objects.filter(target_id=ep["id"]).values()))
        assert ep["secret"] not in dumped and new_secret not in dumped
        disabled_event = Event.objects.get(type="webhook.endpoint.disabled")
        assert disabled_event.payload["endpoint_id"] == ep["id"] and disabled_event.payload["reason"] == "manual"


def test_rotation_signs_with_both_secrets_for_24h(tenant_a, api, receiver, no_kick):
    from datetime import timedelta

    from django.utils import timezone

    from webhooks.services.sending import signing_secrets

    ep = _create(api, receiver.url).json()
    new = api.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", format="json").json()["secret"]
    with in_tenant(tenant_a):
        row = WebhookEndpoint.objects.get(public_id=ep["id"])
        now = timezone.now()
        assert signing_secrets(row, now) == [new, ep["secret"]]
        assert signing_secrets(row, now + timedelta(hours=23, minutes=59)) == [new, ep["secret"]]
        assert signing_secrets(row, now + timedelta(hours=24, seconds=1)) == [new]


def test_event_type_registry_is_listed(api):
    types = {t["type"] for t in api.get("/v1/webhook-event-types").json()["data"]}
    assert {"ledger.entry.created", "ledger.entry.reversed", "webhook.endpoint.disabled"} <= types


def test_scope_webhooks_manage_is_required(tenant_a, api_client, receiver):
    from tenants.services.api_keys import api_key_create

    reader = api_key_create(actor=Actor.system("tests"), tenant=tenant_a.tenant, name="reader", scopes=["ledger:read"]).plaintext
    client = api_client(reader)
    resp = client.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json")
    assert resp.status_code == 403 and resp.json()["code"] == "insufficient_scope"
    assert client.get("/v1/webhook-endpoints").status_code == 403
    assert api_client().get("/v1/webhook-endpoints").status_code == 401


def test_deliveries_and_attempts_are_listed_with_status_filter(tenant_a, api, receiver, no_kick):
    from webhooks.services.sending import delivery_send_due

    ep = _create(api, receiver.url).json()
    emit(tenant_a, n=3)
    with in_tenant(tenant_a):
        delivery_send_due()
    emit(tenant_a, n=2)

    listed = api.get(f"/v1/webhook-endpoints/{ep['id']}/deliveries").json()["results"]
    assert len(listed) == 5
    succeeded = api.get(f"/v1/webhook-endpoints/{ep['id']}/deliveries?status=succeeded").json()["results"]
    pending = api.get(f"/v1/webhook-endpoints/{ep['id']}/deliveries?status=pending").json()["results"]
    assert len(succeeded) == 3 and len(pending) == 2
    detail = api.get(f"/v1/webhook-deliveries/{succeeded[0]['id']}").json()
    (attempt,) = detail["attempts"]
    assert attempt["number"] == 1 and attempt["status_code"] == 200 and attempt["trigger"] == "scheduled"
    assert attempt["outcome"] == "succeeded" and attempt["duration_ms"] >= 0 and attempt["response_excerpt"] == "ok"
    attempts = api.get(f"/v1/webhook-deliveries/{succeeded[0]['id']}/attempts").json()["results"]
    assert attempts == detail["attempts"]
