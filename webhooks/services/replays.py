"""Operator actions on deliveries: replay one now, recover an endpoint's
failures since a time, resend dead letters across endpoints. Each queues
manual attempts (same webhook-id) in one audited transaction and wakes the
dispatcher once it commits."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services.audit import audit_record
from core.actors import Actor
from webhooks import errors
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.selectors import resendable_failed
from webhooks.services.fanout import dispatch_kick_on_commit


def delivery_replay(*, delivery: Delivery, actor: Actor, now: datetime | None = None) -> Delivery:
    """Send a delivery again now (same webhook-id). A pending delivery keeps
    its schedule afterwards; a finished one gets exactly this one attempt."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Delivery.objects.select_for_update(of=("self",)).select_related("endpoint", "event").get(pk=delivery.pk)
        if not locked.endpoint.enabled:
            raise errors.WebhookEndpointDisabled("The delivery's endpoint is disabled; enable it before replaying.")
        if locked.leased_until is not None and locked.leased_until > now:
            raise errors.WebhookDeliveryInFlight("An attempt of this delivery is running; try again in a moment.")
        before = _delivery_snapshot(locked)
        if locked.status != Delivery.Status.PENDING:
            locked.final_after_next = True
        locked.status = Delivery.Status.PENDING
        locked.next_attempt_at = now
        locked.next_trigger = Delivery.Trigger.MANUAL
        locked.leased_until = None
        locked.save(update_fields=["status", "next_attempt_at", "next_trigger", "final_after_next", "leased_until"])
        audit_record(
            actor=actor, action="webhook_delivery.replay", target_type="webhook_delivery", target_id=locked.public_id,
            before=before, after=_delivery_snapshot(locked),
        )
        dispatch_kick_on_commit()
    return locked


def delivery_recover_failed(
    *, endpoint: WebhookEndpoint, since: datetime, actor: Actor, now: datetime | None = None,
) -> int:
    """Replay every delivery of this endpoint that failed at or after `since`
    (one manual attempt each). Returns how many were queued."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not locked.enabled:
            raise errors.WebhookEndpointDisabled("The endpoint is disabled; enable it before recovering deliveries.")
        count = Delivery.objects.filter(
            endpoint=locked, status=Delivery.Status.FAILED, failed_at__gte=since,
        ).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, next_trigger=Delivery.Trigger.MANUAL,
            final_after_next=True, leased_until=None,
        )
        audit_record(
            actor=actor, action="webhook_endpoint.recover", target_type="webhook_endpoint", target_id=locked.public_id,
            metadata={"since": since.isoformat(), "deliveries_queued": count},
        )
        if count:
            dispatch_kick_on_commit()
    return count


def _delivery_snapshot(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.public_id, "status": delivery.status, "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        "next_trigger": delivery.next_trigger,
    }


RESEND_LIMIT = 500  # deliveries one "resend all failed since T" queues; run it again for more


def delivery_resend_failed(
    *, since: datetime, actor: Actor, event_type: str = "", endpoint: WebhookEndpoint | None = None,
    limit: int = RESEND_LIMIT, now: datetime | None = None,
) -> int:
    """Replay dead-lettered deliveries that failed at or after `since`, across
    endpoints (or one), oldest first, at most `limit`: one manual attempt
    each, as delivery_replay. Deliveries of disabled endpoints stay failed
    (enable the endpoint first). Returns how many were queued; one audit
    event names them."""
    now = now or timezone.now()
    limit = max(1, min(limit, RESEND_LIMIT))
    with transaction.atomic():
        rows = list(
            resendable_failed(since=since, event_type=event_type, endpoint=endpoint)
            .select_for_update(of=("self",), skip_locked=True).values_list("pk", "public_id")[:limit]
        )
        count = Delivery.objects.filter(pk__in=[pk for pk, _ in rows], status=Delivery.Status.FAILED).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, next_trigger=Delivery.Trigger.MANUAL,
            final_after_next=True, leased_until=None,
        )
        audit_record(
            actor=actor, action="webhook_delivery.resend_failed", target_type="webhook_endpoint",
            target_id=endpoint.public_id if endpoint is not None else "*",
            metadata={"since": since.isoformat(), "event_type": event_type, "deliveries_queued": count,
                      "limit": limit, "deliveries": [public_id for _, public_id in rows]},
        )
        if count:
            dispatch_kick_on_commit()
    return count
