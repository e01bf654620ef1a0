"""Webhooks' registrations with the audit app: deliveries are exportable as
CSV through the audit exports (manifest, SHA-256, audited downloads)."""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers

from audit.chain import canonical_time
from audit.exports import ExportKind, register_export_kind
from audit.filters import FilterSerializer
from webhooks.models import Delivery, WebhookEndpoint
from webhooks.selectors import delivery_list


class DeliveryFilters(FilterSerializer):
    endpoint = serializers.CharField(required=False, max_length=40, help_text="The endpoint's public id")
    status = serializers.ChoiceField(required=False, choices=Delivery.Status.choices)
    event_type = serializers.CharField(required=False, max_length=80)
    created_after = serializers.DateTimeField(required=False, help_text="created_at >= this instant")
    created_before = serializers.DateTimeField(required=False, help_text="created_at < this instant")
    ranges = (("created_after", "created_before"),)


DELIVERY_COLUMNS = ("delivery_id", "event_id", "event_type", "endpoint_id", "endpoint_url", "status",
                    "attempt_count", "last_status_code", "last_error", "last_attempt_at", "next_attempt_at",
                    "succeeded_at", "failed_at", "created_at")


def deliveries_for_export(filters: dict) -> QuerySet:
    endpoint = None
    if filters.get("endpoint"):
        endpoint = WebhookEndpoint.objects.filter(public_id=filters["endpoint"]).first()
        if endpoint is None:
            return Delivery.objects.none()
    qs = delivery_list(endpoint=endpoint, status=filters.get("status"))
    if filters.get("event_type"):
        qs = qs.filter(event__type=filters["event_type"])
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    return qs.order_by("id")


def _t(value):
    return canonical_time(value) if value else None


def delivery_row(d: Delivery) -> tuple:
    return (d.public_id, d.event.public_id, d.event.type, d.endpoint.public_id, d.endpoint.url, d.status,
            d.attempt_count, d.last_status_code, d.last_error, _t(d.last_attempt_at), _t(d.next_attempt_at),
            _t(d.succeeded_at), _t(d.failed_at), _t(d.created_at))


def register() -> None:
    # Deliveries change state with every attempt: not sealed, pinned by id
    # with their state as of the export's first complete pass.
    register_export_kind(ExportKind(
        name="webhook_deliveries", columns=DELIVERY_COLUMNS, filters=DeliveryFilters,
        queryset=deliveries_for_export, row=delivery_row, record_type=None, scope="webhooks:manage",
    ))
