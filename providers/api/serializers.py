from __future__ import annotations

from rest_framework import serializers

from providers.models import InboundDelivery, InboundStatus, Provider
from core.api import StrictSerializer


class _PageQuery(StrictSerializer):
    cursor = serializers.CharField(required=False, help_text="Opaque cursor from `next` / `previous`.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200)


class ProviderOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    signature_scheme = serializers.ChoiceField(choices=Provider.Scheme.choices)
    inbound_path = serializers.SerializerMethodField()
    previous_secret_valid_until = serializers.DateTimeField(source="previous_secret_expires_at", allow_null=True)

    class Meta:
        model = Provider
        fields = ["id", "slug", "name", "kind", "signature_scheme", "inbound_path", "mapping", "tolerance_seconds",
                  "max_wait_seconds", "enabled", "secret_rotated_at", "previous_secret_valid_until", "created_at",
                  "updated_at"]

    def get_inbound_path(self, obj: Provider) -> str:
        return f"/v1/inbound/{obj.slug}"


class ProviderWithSecretOut(ProviderOut):
    secret = serializers.CharField(
        allow_null=True,
        help_text="The signing secret Zentra generated (whsec_…), shown once: configure it at the provider. "
                  "Null when you supplied the provider's own secret (it is never shown back).")

    class Meta(ProviderOut.Meta):
        fields = ProviderOut.Meta.fields + ["secret"]


class ProviderCreateIn(StrictSerializer):
    slug = serializers.CharField(max_length=40, help_text="Path segment: POST /v1/inbound/{slug}. Never changes.")
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    signature_scheme = serializers.ChoiceField(choices=Provider.Scheme.choices, required=False,
                                               help_text="Default: stripe for kind stripe, else standard_webhooks.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    signing_secret = serializers.CharField(
        max_length=200, required=False, trim_whitespace=False,
        help_text="The provider's signing secret (Stripe's whsec_…). Omit it to have Zentra generate one.")
    mapping = serializers.JSONField(required=False, help_text="Event id/type paths and rules per event type; "
                                                              "default for kind stripe: the built-in Stripe rules.")
    tolerance_seconds = serializers.IntegerField(required=False, default=300, min_value=1, max_value=3600)
    max_wait_seconds = serializers.IntegerField(required=False, default=3 * 24 * 3600, min_value=1,
                                                max_value=30 * 86400)
    enabled = serializers.BooleanField(required=False, default=True)


class ProviderUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    mapping = serializers.JSONField(required=False)
    enabled = serializers.BooleanField(required=False)
    tolerance_seconds = serializers.IntegerField(required=False, min_value=1, max_value=3600)
    max_wait_seconds = serializers.IntegerField(required=False, min_value=1, max_value=30 * 86400)


class RotateSecretIn(StrictSerializer):
    signing_secret = serializers.CharField(max_length=200, required=False, trim_whitespace=False,
                                           help_text="The provider's new secret; omit it to have Zentra generate one.")


class DeliveryListQuery(_PageQuery):
    provider = serializers.CharField(required=False, max_length=40, help_text="Provider slug.")
    status = serializers.ChoiceField(choices=InboundStatus.choices, required=False)
    event_id = serializers.CharField(required=False, max_length=255)


class InboundDeliveryOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    provider = serializers.CharField(source="provider.slug")
    status = serializers.ChoiceField(choices=InboundStatus.choices)
    entry_id = serializers.IntegerField(allow_null=True)
    posting_id = serializers.SerializerMethodField()
    applied_by = serializers.SerializerMethodField()

    class Meta:
        model = InboundDelivery
        fields = ["id", "provider", "received_at", "event_id", "event_type", "status", "reason",
                  "signature_result", "signature_detail", "ledger_key", "entry_id", "posting_id", "applied_by",
                  "waiting_for", "attempts", "last_attempt_at", "next_attempt_at", "applied_at", "decisions"]

    def get_posting_id(self, obj: InboundDelivery) -> str | None:
        return obj.entry.posting_id if obj.entry_id else None

    def get_applied_by(self, obj: InboundDelivery) -> str | None:
        return obj.applied_by.public_id if obj.applied_by_id else None


class InboundDeliveryDetailOut(InboundDeliveryOut):
    headers = serializers.JSONField()
    body = serializers.CharField(
        source="body_text", help_text="The raw body as received (UTF-8, invalid bytes replaced); for a delivery whose "
                                      "signature failed only its first 1024 bytes")
    body_sha256 = serializers.CharField(help_text="SHA-256 of the whole body as received")
    body_size = serializers.IntegerField(help_text="Bytes of the whole body as received")

    class Meta(InboundDeliveryOut.Meta):
        fields = InboundDeliveryOut.Meta.fields + ["headers", "body", "body_sha256", "body_size"]


class InboundAcceptedOut(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    event_id = serializers.CharField()
