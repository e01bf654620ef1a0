"""webhooks.services.replays: replay, recover since, resend failed since:
manual attempts with the same webhook-id, audited, refused for disabled
endpoints and in-flight deliveries."""
import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from tests.webhooks.conftest import T0, TEST_ACTOR, emit, emit_at, in_tenant, make_endpoint, run_due
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.services.endpoints import endpoint_disable
from webhooks.services.replays import delivery_recover_failed, delivery_replay, delivery_resend_failed
from webhooks.services.sending import delivery_send_due


def test_replay_of_a_dead_letter_is_one_manual_attempt_with_the_same_webhook_id(tenant_a, api, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    emit_at(tenant_a, T0)
    now = T0
    with in_tenant(tenant_a):
        for _ in range(8):
            (attempt,) = run_due(now)
            now = Delivery.objects.get(pk=attempt.delivery_id).next_attempt_at or now
        delivery = Delivery.objects.select_related("endpoint").get()
        assert delivery.status == "failed"
    failed = api.get(f"/v1/webhook-endpoints/{delivery.endpoint.public_id}/deliveries?status=failed").json()["results"]
    assert [d["id"] for d in failed] == [delivery.public_id]

    resp = api.post(f"/v1/webhook-deliveries/{delivery.public_id}/replay", format="json")
    assert resp.status_code == 202 and resp.json()["status"] == "pending" and resp.json()["next_trigger"] == "manual"
    receiver.respond = lambda req: (200, b"thanks", {})
    with in_tenant(tenant_a):
        (manual,) = run_due(datetime.now(dt_timezone.utc) + timedelta(seconds=1))
        assert manual.number == 9 and manual.trigger == "manual" and manual.outcome == "succeeded"
        assert Delivery.objects.get().status == "succeeded"
        assert AuditEvent.objects.filter(action="webhook_delivery.replay", target_id=delivery.public_id).count() == 1
    assert len({r.msg_id for r in receiver.requests}) == 1 and len(receiver.requests) == 9


def test_failed_manual_replay_is_final(tenant_a, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    make_endpoint(tenant_a, url=receiver.url)
    emit_at(tenant_a, T0)
    with in_tenant(tenant_a):
        now = T0
        for _ in range(8):
            (a,) = run_due(now)
            now = Delivery.objects.get().next_attempt_at or now
        delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=now)
        (manual,) = run_due(now)
        d = Delivery.objects.get()
        assert manual.trigger == "manual" and d.status == "failed" and d.next_attempt_at is None


def test_recover_replays_everything_failed_since(tenant_a, api, receiver, no_kick):
    receiver.respond = lambda req: (500, b"", {})
    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    emit_at(tenant_a, T0, n=3)
    with in_tenant(tenant_a):
        now = T0
        for _ in range(8):
            run_due(now)
            now = max(d.next_attempt_at or now for d in Delivery.objects.all())
        assert Delivery.objects.filter(status="failed").count() == 3
        # One older failure that must not be recovered.
        old = Delivery.objects.order_by("id").first()
        Delivery.objects.filter(pk=old.pk).update(failed_at=T0 - timedelta(days=10))
        # The endpoint has been failing for days by the frozen clock; keep it enabled here.
        WebhookEndpoint.objects.filter(pk=ep.pk).update(failing_since=None)
    resp = api.post(f"/v1/webhook-endpoints/{ep.public_id}/recover", {"since": T0.isoformat()}, format="json")
    assert resp.status_code == 202 and resp.json()["deliveries_queued"] == 2
    receiver.respond = lambda req: (204, b"", {})
    with in_tenant(tenant_a):
        attempts = run_due(datetime.now(dt_timezone.utc) + timedelta(seconds=1))
        assert len(attempts) == 2 and all(a.trigger == "manual" and a.outcome == "succeeded" for a in attempts)
        assert Delivery.objects.filter(status="succeeded").count() == 2
        assert Delivery.objects.get(pk=old.pk).status == "failed"
        audit = AuditEvent.objects.get(action="webhook_endpoint.recover")
        assert audit.metadata["deliveries_queued"] == 2


def test_replay_refuses_disabled_endpoints_and_in_flight_deliveries(tenant_a, receiver, no_kick):
    from webhooks import errors
    from webhooks.services.endpoints import endpoint_disable

    ep = make_endpoint(tenant_a, url=receiver.url).endpoint
    emit_at(tenant_a, T0)
    hold = threading.Event()
    receiver.respond = lambda req: (hold.wait(30), (200, b"", {}))[1]

    def dispatcher():
        with in_tenant(tenant_a):
            delivery_send_due(now=T0)
        connection.close()

    # A dispatcher holds the delivery's lease while its attempt runs.
    thread = threading.Thread(target=dispatcher)
    thread.start()
    assert receiver.wait_for(lambda rx: len(rx.requests) == 1, timeout=20)
    with in_tenant(tenant_a):
        with pytest.raises(errors.WebhookDeliveryInFlight):
            delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=T0)
        endpoint_disable(endpoint=ep, actor=TEST_ACTOR)
        with pytest.raises(errors.WebhookEndpointDisabled):
            delivery_replay(delivery=Delivery.objects.get(), actor=TEST_ACTOR, now=T0)
        with pytest.raises(errors.WebhookEndpointDisabled):
            delivery_recover_failed(endpoint=ep, since=T0, actor=TEST_ACTOR)
    hold.set()
    thread.join(30)


def test_resend_failed_is_bounded_oldest_first_and_skips_disabled_endpoints(tenant_a, no_kick):
    live = make_endpoint(tenant_a, url="http://127.0.0.1:9/a", event_types=["ledger.*"]).endpoint
    off = make_endpoint(tenant_a, url="http://127.0.0.1:9/b", event_types=["ledger.*"]).endpoint
    emit(tenant_a, n=3)
    now = timezone.now()
    with in_tenant(tenant_a):
        Delivery.objects.update(status="failed", failed_at=now, next_attempt_at=None)
        oldest = Delivery.objects.filter(endpoint=live).order_by("id").first()
        Delivery.objects.filter(pk=oldest.pk).update(failed_at=now - timedelta(days=1))
        endpoint_disable(endpoint=off, actor=TEST_ACTOR)
        since = now - timedelta(hours=1)

        first = delivery_resend_failed(since=since, actor=TEST_ACTOR, limit=1)
        second = delivery_resend_failed(since=since, actor=TEST_ACTOR, limit=1)
        third = delivery_resend_failed(since=since, actor=TEST_ACTOR, limit=1)
        assert (first, second, third) == (1, 1, 0)
        queued = list(Delivery.objects.filter(status="pending").order_by("id"))
        assert [d.endpoint_id for d in queued] == [live.pk, live.pk]
        assert all(d.next_trigger == "manual" and d.final_after_next for d in queued)
        assert Delivery.objects.get(pk=oldest.pk).status == "failed"  # before T
        assert Delivery.objects.filter(endpoint=off, status="failed").count() == 3  # disabled: left alone
        events = list(AuditEvent.objects.filter(action="webhook_delivery.resend_failed").order_by("id"))
        assert [e.metadata["deliveries"] for e in events[:2]] == [[queued[0].public_id], [queued[1].public_id]]
        assert events[2].metadata["deliveries_queued"] == 0 and events[0].actor_ref == TEST_ACTOR.ref
