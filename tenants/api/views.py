"""Tenant API: the tenant behind a request, and its API keys. Parse,
authorize, call a service or selector, render."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors
from core.actors import Actor
from tenants.models import ApiKey
from tenants.selectors import api_key_of_tenant, api_keys_of_tenant
from tenants.services.api_keys import api_key_create, api_key_revoke

from . import serializers as s


class TenantCurrentApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.TenantOut, summary="The tenant and key behind this request")
    def get(self, request):
        key: ApiKey = request.auth
        return Response(s.TenantOut({
            "tenant": key.tenant.slug, "name": key.tenant.name, "schema": key.tenant.schema_name,
            "api_key_prefix": key.prefix, "scopes": key.scopes,
        }).data)


class ApiKeyListCreateApi(APIView):
    required_scopes = {"GET": "admin", "POST": "admin"}

    @extend_schema(responses=s.ApiKeyListOut, summary="List this tenant's API keys")
    def get(self, request):
        keys = api_keys_of_tenant(request.auth.tenant)
        return Response({"data": s.ApiKeyOut(keys, many=True).data})

    @extend_schema(request=s.ApiKeyIn, responses={201: s.ApiKeyCreatedOut}, summary="Create an API key (shown once)")
    def post(self, request):
        data = s.ApiKeyIn(data=request.data)
        data.is_valid(raise_exception=True)
        issued = api_key_create(
            actor=Actor.from_request(request), tenant=request.auth.tenant, name=data.validated_data["name"],
            scopes=data.validated_data["scopes"],
        )
        body = s.ApiKeyOut(issued.api_key).data | {"key": issued.plaintext}
        return Response(body, status=201)


class ApiKeyRevokeApi(APIView):
    required_scopes = {"POST": "admin"}

    @extend_schema(request=None, responses=s.ApiKeyOut, summary="Revoke an API key")
    def post(self, request, key_id: int):
        key = api_key_of_tenant(request.auth.tenant, key_id)
        if key is None:
            raise errors.NotFound("No such API key.")
        return Response(s.ApiKeyOut(api_key_revoke(actor=Actor.from_request(request), api_key=key)).data)
