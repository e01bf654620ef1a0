from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors
from core.actors import Actor
from tenants.models import SCOPES, ApiKey
from tenants.services.api_keys import api_key_create, api_key_revoke
from core.api import StrictSerializer


class TenantOut(serializers.Serializer):
    tenant = serializers.CharField()
    name = serializers.CharField()
    schema = serializers.CharField()
    api_key_prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())


class TenantCurrentApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=TenantOut, summary="The tenant and key behind this request")
    def get(self, request):
        key: ApiKey = request.auth
        return Response(TenantOut({
            "tenant": key.tenant.slug, "name": key.tenant.name, "schema": key.tenant.schema_name,
            "api_key_prefix": key.prefix, "scopes": key.scopes,
        }).data)


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


class ApiKeyListCreateApi(APIView):
    required_scopes = {"GET": "admin", "POST": "admin"}

    @extend_schema(responses=ApiKeyListOut, summary="List this tenant's API keys")
    def get(self, request):
        keys = ApiKey.objects.filter(tenant=request.auth.tenant).order_by("-id")
        return Response({"data": ApiKeyOut(keys, many=True).data})

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyCreatedOut}, summary="Create an API key (shown once)")
    def post(self, request):
        data = ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        issued = api_key_create(
            actor=Actor.from_request(request), tenant=request.auth.tenant, name=data.validated_data["name"],
            scopes=data.validated_data["scopes"],
        )
        body = ApiKeyOut(issued.api_key).data | {"key": issued.plaintext}
        return Response(body, status=201)


class ApiKeyRevokeApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=None, responses=ApiKeyOut, summary="Revoke an API key")
    def post(self, request, key_id: int):
        key = ApiKey.objects.filter(tenant=request.auth.tenant, pk=key_id).first()
        if key is None:
            raise errors.NotFound("No such API key.")
        return Response(ApiKeyOut(api_key_revoke(actor=Actor.from_request(request), api_key=key)).data)
