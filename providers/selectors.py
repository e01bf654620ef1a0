"""Reads for the providers API and console, in the current tenant's schema
(another tenant's ids are simply not found)."""
from __future__ import annotations

from django.db.models import QuerySet

from providers.errors import InboundDeliveryNotFound, ProviderNotFound
from providers.models import InboundDelivery, Provider


def provider_list() -> QuerySet[Provider]:
    return Provider.objects.all()


def provider_get(*, public_id: str) -> Provider:
    provider = Provider.objects.filter(public_id=public_id).first()
    if provider is None:
        raise ProviderNotFound("No such provider.")
    return provider


def provider_for_inbound(*, slug: str) -> Provider:
    provider = Provider.objects.filter(slug=slug, enabled=True).first()
    if provider is None:
        raise ProviderNotFound("No enabled provider at this path.")
    return provider


def delivery_list(*, provider: str | None = None, status: str | None = None,
                  event_id: str | None = None) -> QuerySet[InboundDelivery]:
    qs = InboundDelivery.objects.select_related("provider", "entry", "applied_by").defer("body")
    if provider:
        qs = qs.filter(provider__slug=provider)
    if status:
        qs = qs.filter(status=status)
    if event_id:
        qs = qs.filter(event_id=event_id)
    return qs


def delivery_get(*, public_id: str) -> InboundDelivery:
    d = InboundDelivery.objects.select_related("provider", "entry", "applied_by").filter(public_id=public_id).first()
    if d is None:
        raise InboundDeliveryNotFound("No such inbound delivery.")
    return d
