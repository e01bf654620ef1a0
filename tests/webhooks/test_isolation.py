"""Tenants never see or touch each other's endpoints, events or deliveries."""
from tests.webhooks.conftest import emit, in_tenant, make_endpoint
from webhooks.models import Delivery, DeliveryAttempt
from webhooks.services.sending import delivery_send_due


def test_endpoints_events_and_deliveries_are_per_tenant(tenant_a, tenant_b, api_client, receiver, no_kick):
    a = api_client(tenant_a.api_key.plaintext)
    b = api_client(tenant_b.api_key.plaintext)
    ep_a = a.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    (event_a,) = emit(tenant_a)
    emit(tenant_b, n=2)  # tenant B has no endpoint: no delivery anywhere

    assert b.get("/v1/webhook-endpoints").json()["results"] == []
    assert b.get(f"/v1/webhook-endpoints/{ep_a['id']}").status_code == 404
    assert b.patch(f"/v1/webhook-endpoints/{ep_a['id']}", {"description": "mine"}, format="json").status_code == 404
    assert b.post(f"/v1/webhook-endpoints/{ep_a['id']}/disable", format="json").status_code == 404
    assert b.post(f"/v1/webhook-endpoints/{ep_a['id']}/rotate-secret", format="json").status_code == 404
    assert b.get(f"/v1/events/{event_a.public_id}").status_code == 404
    assert {e["tenant"] for e in b.get("/v1/events").json()["results"]} == {tenant_b.tenant.slug}
    assert len(b.get("/v1/events").json()["results"]) == 2

    with in_tenant(tenant_a):
        delivery = Delivery.objects.get(event=event_a)
    with in_tenant(tenant_b):
        assert Delivery.objects.count() == 0
    assert b.get(f"/v1/webhook-deliveries/{delivery.public_id}").status_code == 404
    replay = b.post(f"/v1/webhook-deliveries/{delivery.public_id}/replay", format="json")
    assert replay.status_code == 404 and replay.json()["code"] == "not_found"
    with in_tenant(tenant_a):
        untouched = Delivery.objects.get(pk=delivery.pk)
        assert untouched.next_trigger == "scheduled" and untouched.attempt_count == 0
    assert a.get(f"/v1/webhook-deliveries/{delivery.public_id}").status_code == 200


def test_a_claim_only_sees_its_own_tenant(tenant_a, tenant_b, receiver, no_kick):
    make_endpoint(tenant_a, url=receiver.url)
    make_endpoint(tenant_b, url=receiver.url)
    emit(tenant_a, n=3)
    emit(tenant_b, n=1)
    with in_tenant(tenant_b):
        assert delivery_send_due().claimed == 1
        (attempt,) = DeliveryAttempt.objects.select_related("delivery")
        assert attempt.delivery.claim_seq == 1
    with in_tenant(tenant_a):
        assert delivery_send_due().claimed == 3
