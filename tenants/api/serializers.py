"""Request and response shapes of the tenant and API-key endpoints."""
from __future__ import annotations

from rest_framework import serializers

from core.api import StrictSerializer
from tenants.models import SCOPES, ApiKey


class TenantOut(serializers.Serializer):
    tenant = serializers.CharField()
    name = serializers.CharField()
    schema = serializers.CharField()
    api_key_prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "created_by", "revoked_at", "last_used_at"]


class ApiKeyListOut(serializers.Serializer):
    data = ApiKeyOut(many=True)


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="The full key. Shown once; Zentra keeps only a hash.")

    class Meta(ApiKeyOut.Meta):
        fields = ApiKeyOut.Meta.fields + ["key"]


class ApiKeyIn(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), min_length=1)
