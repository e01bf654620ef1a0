"""End to end through a real Celery worker and Redis: commit → on-commit
kick → dispatcher task → delivery task → loopback receiver, which checks
every request with the unmodified `standardwebhooks` library."""
import json
import time

import pytest
from standardwebhooks import Webhook

from tests.webhooks.conftest import emit, in_tenant
from webhooks.models import Delivery

pytestmark = pytest.mark.worker


def _verifying(receiver, secrets):
    """Answer 200 only when the signature verifies with every given secret alone."""
    verified = []

    def respond(req):
        try:
            for secret in secrets():
                Webhook(secret).verify(req.body, req.headers)
        except Exception as exc:  # noqa: BLE001 - report, the test asserts on it
            return 400, f"bad signature: {exc}".encode(), {}
        verified.append(req)
        return 200, b"verified", {}

    receiver.respond = respond
    return verified


def test_every_delivery_verifies_with_standardwebhooks(celery_worker_proc, tenant_a, api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["ledger.*"]}, format="json").json()
    verified = _verifying(receiver, lambda: [ep["secret"]])
    events = emit(tenant_a, n=5, payload={"entry_id": "ent_1", "amount_minor": 125000})
    emit(tenant_a, n=1, type="account.created")  # not subscribed

    assert receiver.wait_for(lambda rx: len(rx.requests) >= 5, timeout=30), celery_worker_proc.log_path.read_text()[-3000:]
    time.sleep(0.5)
    assert len(receiver.requests) == 5 and len(verified) == 5
    by_id = {r.msg_id: r for r in verified}
    assert set(by_id) == {e.public_id for e in events}
    for event in events:
        req = by_id[event.public_id]
        body = json.loads(req.body)
        assert body["type"] == "ledger.entry.created" and body["id"] == event.public_id
        assert body["tenant"] == tenant_a.tenant.slug and body["timestamp"].endswith("Z")
        assert body["data"] == {"entry_id": "ent_1", "amount_minor": 125000, "correlation_id": event.correlation_id}
        assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 30
        assert req.headers["content-type"] == "application/json"
    with in_tenant(tenant_a):
        assert receiver.wait_for(lambda rx: Delivery.objects.filter(status="succeeded").count() == 5, timeout=10)


def test_rotation_sends_both_signatures(celery_worker_proc, tenant_a, api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    new = api.post(f"/v1/webhook-endpoints/{ep['id']}/rotate-secret", format="json").json()["secret"]
    verified = _verifying(receiver, lambda: [ep["secret"], new])
    emit(tenant_a, n=2)
    assert receiver.wait_for(lambda rx: len(rx.requests) >= 2, timeout=30)
    assert len(verified) == 2
    assert all(len(r.headers["webhook-signature"].split(" ")) == 2 for r in verified)


def test_replay_keeps_the_webhook_id_and_signs_a_fresh_timestamp(celery_worker_proc, tenant_a, api, receiver):
    ep = api.post("/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["*"]}, format="json").json()
    verified = _verifying(receiver, lambda: [ep["secret"]])
    (event,) = emit(tenant_a)
    assert receiver.wait_for(lambda rx: len(rx.requests) >= 1, timeout=30)
    with in_tenant(tenant_a):
        delivery = Delivery.objects.get(event=event)
        assert receiver.wait_for(lambda rx: Delivery.objects.get(pk=delivery.pk).status == "succeeded", timeout=10)
    time.sleep(1.1)  # webhook-timestamp has one-second resolution
    resp = api.post(f"/v1/webhook-deliveries/{delivery.public_id}/replay", format="json")
    assert resp.status_code == 202, resp.json()
    assert receiver.wait_for(lambda rx: len(rx.requests) >= 2, timeout=30)
    first, second = receiver.requests[:2]
    assert first.msg_id == second.msg_id == event.public_id
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    assert len(verified) == 2
    detail = api.get(f"/v1/webhook-deliveries/{delivery.public_id}").json()
    for _ in range(50):
        if len(detail["attempts"]) == 2:
            break
        time.sleep(0.1)
        detail = api.get(f"/v1/webhook-deliveries/{delivery.public_id}").json()
    assert [a["trigger"] for a in detail["attempts"]] == ["scheduled", "manual"]
