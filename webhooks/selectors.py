"""Reads for the webhooks API, console and admin. Every query runs in the
current tenant's schema, so another tenant's ids simply are not found."""
from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from core import errors
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.models import Event


def event_list(
    *, types: list[str] | None = None, created_after: datetime | None = None, created_before: datetime | None = None,
) -> QuerySet[Event]:
    qs = Event.objects.all()
    if types:
        cond = Q()
        for t in types:
            if t == "*":
                return event_list(created_after=created_after, created_before=created_before)
            cond |= Q(type__startswith=t[:-1]) if t.endswith(".*") else Q(type=t)
        qs = qs.filter(cond)
    if created_after is not None:
        qs = qs.filter(created_at__gte=created_after)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    return qs


def event_get(*, public_id: str) -> Event:
    event = Event.objects.filter(public_id=public_id).first()
    if event is None:
        raise errors.NotFound("No such event.")
    return event


def endpoint_list(*, enabled: bool | None = None) -> QuerySet[WebhookEndpoint]:
    qs = WebhookEndpoint.objects.all()
    if enabled is not None:
        qs = qs.filter(enabled=enabled)
    return qs


def endpoint_get(*, public_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(public_id=public_id).first()
    if endpoint is None:
        raise errors.NotFound("No such webhook endpoint.")
    return endpoint


def delivery_list(*, endpoint: WebhookEndpoint | None = None, status: str | None = None, event: Event | None = None) -> QuerySet[Delivery]:
    qs = Delivery.objects.select_related("event", "endpoint")
    if endpoint is not None:
        qs = qs.filter(endpoint=endpoint)
    if event is not None:
        qs = qs.filter(event=event)
    if status:
        qs = qs.filter(status=status)
    return qs


def delivery_get(*, public_id: str) -> Delivery:
    delivery = Delivery.objects.select_related("event", "endpoint").filter(public_id=public_id).first()
    if delivery is None:
        raise errors.NotFound("No such webhook delivery.")
    return delivery


def attempt_list(*, delivery: Delivery) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(delivery=delivery)
