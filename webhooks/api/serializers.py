from __future__ import annotations

from django.db import connection
from rest_framework import serializers

from events.types import PATTERN
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.models import Event
from core.api import StrictSerializer



class _PageQuery(StrictSerializer):
    cursor = serializers.CharField(required=False, help_text="Opaque cursor from `next` / `previous`.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)


# --- events -------------------------------------------------------------------
class EventListQuery(_PageQuery):
    type = serializers.CharField(
        required=False, max_length=200,
        help_text="Comma-separated types or families: `ledger.entry.created,ledger.hold.*`.",
    )
    created_after = serializers.DateTimeField(required=False, help_text="Inclusive lower bound (ISO 8601).")
    created_before = serializers.DateTimeField(required=False, help_text="Exclusive upper bound (ISO 8601).")

    def validate_type(self, value: str) -> list[str]:
        types = [t.strip() for t in value.split(",") if t.strip()]
        bad = [t for t in types if not PATTERN.match(t)]
        if bad or not types:
            raise serializers.ValidationError(f"Not an event type or pattern: {', '.join(bad) or value!r}.")
        return types

    def validate(self, attrs):
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after and before and after >= before:
            raise serializers.ValidationError({"created_before": "must be later than created_after."})
        return attrs


class EventOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    tenant = serializers.SerializerMethodField()
    correlation_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    payload = serializers.JSONField()

    def get_tenant(self, obj: Event) -> str:
        tenant = getattr(connection, "tenant", None)
        return getattr(tenant, "slug", connection.schema_name)


class EventTypeOut(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()


# --- endpoints ------------------------------------------------------------------
class EndpointOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    previous_secret_valid_until = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "url", "description", "event_types", "enabled", "disabled_reason", "disabled_at",
            "failing_since", "secret_rotated_at", "previous_secret_valid_until", "created_at", "updated_at",
        ]


class EndpointWithSecretOut(EndpointOut):
    secret = serializers.CharField(help_text="The signing secret (whsec_…). Shown once; store it now.")

    class Meta(EndpointOut.Meta):
        fields = EndpointOut.Meta.fields + ["secret"]


class EndpointCreateIn(StrictSerializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=80), min_length=1, max_length=50)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointUpdateIn(StrictSerializer):
    url = serializers.CharField(max_length=2048, required=False, trim_whitespace=False)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=80), min_length=1, max_length=50, required=False,
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class EndpointListQuery(_PageQuery):
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)


class RecoverIn(StrictSerializer):
    since = serializers.DateTimeField(help_text="Replay every delivery that failed at or after this time.")


class RecoverOut(serializers.Serializer):
    endpoint_id = serializers.CharField()
    since = serializers.DateTimeField()
    deliveries_queued = serializers.IntegerField()


# --- deliveries -------------------------------------------------------------------
class DeliveryListQuery(_PageQuery):
    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)


class DeliveryOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    endpoint_id = serializers.CharField(source="endpoint.public_id")

    class Meta:
        model = Delivery
        fields = [
            "id", "event_id", "event_type", "endpoint_id", "status", "attempt_count", "next_attempt_at",
            "next_trigger", "last_attempt_at", "last_status_code", "last_error", "succeeded_at", "failed_at",
            "created_at",
        ]


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number", "trigger", "outcome", "status_code", "duration_ms", "response_excerpt", "error", "url",
            "started_at", "created_at",
        ]


class DeliveryDetailOut(DeliveryOut):
    attempts = AttemptOut(many=True, read_only=True)

    class Meta(DeliveryOut.Meta):
        fields = DeliveryOut.Meta.fields + ["attempts"]
