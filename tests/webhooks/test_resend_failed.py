"""delivery_resend_failed: dead-lettered deliveries since T, across endpoints,
bounded, oldest first, skipping disabled endpoints, one audit event."""
from datetime import timedelta

from django.utils import timezone

from audit.models import AuditEvent
from tests.webhooks.conftest import TEST_ACTOR, emit, in_tenant, make_endpoint
from webhooks.models import Delivery
from webhooks.services.replays import delivery_resend_failed
from webhooks.services.endpoints import endpoint_disable


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
