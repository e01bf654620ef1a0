"""Inbound provider API. The receiver (/v1/inbound/{slug}) is called by the
provider, not an integrator: no API key, the signature authenticates it and
the hostname picks the tenant. The rest is the integrator's configuration
and log, behind API-key scopes like every other /v1 view."""
from __future__ import annotations

from django.db import connection
from django.http.request import split_domain_port
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from ledger.api.fields import idempotency_header
from ledger.services.boundary import idempotency_key_clean, request_hash
from providers import selectors
from providers.api import serializers as s
from providers.errors import InboundLengthRequired, InboundPayloadTooLarge, ProviderNotFound
from providers.services.inbound import inbound_receive, inbound_replay
from providers.services.providers import (
    provider_create, provider_create_once, provider_rotate_secret, provider_update,
)
from tenants.models import Domain, Tenant
from core.api import (
    StrictSerializer, ZentraCursorPagination, cursor_page_schema, serializer_body, serializer_query,
)
from core.context import tenant_var
from django.conf import settings

MANAGE = "webhooks:manage"


class EmptyIn(StrictSerializer):
    pass


# --- the receiver -----------------------------------------------------------------
class InboundReceiveApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def post(self, request, provider: str):
        host, _ = split_domain_port(request.get_host())
        domain = Domain.objects.select_related("tenant").filter(domain=host.lower()).first()
        if domain is None or domain.tenant.status != Tenant.Status.ACTIVE:
            raise ProviderNotFound("No tenant at this hostname; send provider callbacks to the tenant's domain.")
        connection.set_tenant(domain.tenant)
        tenant_var.set(domain.tenant.slug)
        found = selectors.provider_for_inbound(slug=provider)
        if not request.META.get("CONTENT_LENGTH") and request.META.get("HTTP_TRANSFER_ENCODING"):
            # WSGI reads Content-Length bytes: without one (chunked) the body
            # would be judged as empty. Providers send a length; refuse.
            raise InboundLengthRequired("Send the body with a Content-Length; chunked bodies are not accepted.")
        body = request._request.body  # the exact bytes that were signed
        if len(body) > settings.INBOUND_MAX_BODY_BYTES:  # a server that decoded chunks for us: checked after reading
            raise InboundPayloadTooLarge(f"Request body is {len(body)} bytes; the limit is "
                                         f"{settings.INBOUND_MAX_BODY_BYTES} bytes.")
        received = inbound_receive(provider=found, headers=dict(request.headers), body=body,
                                   remote_ip=request.META.get("REMOTE_ADDR") or None)
        if received.error is not None:
            raise received.error
        d = received.delivery
        return Response({"id": d.public_id, "status": d.status, "event_id": d.event_id})


# --- providers --------------------------------------------------------------------
class ProviderListCreateApi(APIView):
    required_scopes = {"GET": MANAGE, "POST": MANAGE}

    @extend_schema(parameters=[s._PageQuery], responses=cursor_page_schema(s.ProviderOut, name="ProviderPage"),
                   operation_id="providers_list", summary="List inbound providers")
    def get(self, request):
        serializer_query(s._PageQuery, request)
        paginator = ZentraCursorPagination()
        page = paginator.paginate_queryset(selectors.provider_list(), request, view=self)
        return paginator.get_paginated_response(s.ProviderOut(page, many=True).data)

    @extend_schema(request=s.ProviderCreateIn, responses={201: s.ProviderWithSecretOut},
                   parameters=[idempotency_header("Optional: a retry with the same key answers the first response (the "
                                                  "secret included) and creates nothing.")],
                   summary="Configure an inbound provider (a generated secret is shown once)")
    def post(self, request):
        data = serializer_body(s.ProviderCreateIn, request)
        actor = Actor.from_request(request)
        key = request.headers.get("Idempotency-Key")
        if key is None:
            created = provider_create(actor=actor, **data)
            return Response(s.ProviderOut(created.provider).data | {"secret": created.secret}, status=201)
        created, replayed = provider_create_once(
            actor=actor, idempotency_key=idempotency_key_clean(header=key, body_value=None),
            req_hash=request_hash(operation="provider.create", payload=request.data), **data)
        response = Response(s.ProviderOut(created.provider).data | {"secret": created.secret}, status=201)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ProviderDetailApi(APIView):
    required_scopes = {"GET": MANAGE, "PATCH": MANAGE}

    @extend_schema(responses=s.ProviderOut, summary="Get an inbound provider")
    def get(self, request, provider_id: str):
        return Response(s.ProviderOut(selectors.provider_get(public_id=provider_id)).data)

    @extend_schema(request=s.ProviderUpdateIn, responses=s.ProviderOut,
                   summary="Change a provider's name, mapping, tolerance or enabled flag")
    def patch(self, request, provider_id: str):
        data = serializer_body(s.ProviderUpdateIn, request)
        provider = selectors.provider_get(public_id=provider_id)
        return Response(s.ProviderOut(provider_update(provider=provider, actor=Actor.from_request(request),
                                                      **data)).data)


class ProviderRotateSecretApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(request=s.RotateSecretIn, responses=s.ProviderWithSecretOut,
                   summary="Rotate the signing secret (the old one keeps verifying for 24 h)")
    def post(self, request, provider_id: str):
        data = serializer_body(s.RotateSecretIn, request)
        provider = selectors.provider_get(public_id=provider_id)
        rotated = provider_rotate_secret(provider=provider, actor=Actor.from_request(request), **data)
        return Response(s.ProviderOut(rotated.provider).data | {"secret": rotated.secret})


# --- deliveries -------------------------------------------------------------------
class InboundDeliveryListApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(parameters=[s.DeliveryListQuery],
                   responses=cursor_page_schema(s.InboundDeliveryOut, name="InboundDeliveryPage"),
                   operation_id="inbound_deliveries_list", summary="List inbound deliveries (newest first)")
    def get(self, request):
        q = serializer_query(s.DeliveryListQuery, request)
        qs = selectors.delivery_list(provider=q.get("provider"), status=q.get("status"), event_id=q.get("event_id"))
        paginator = ZentraCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.InboundDeliveryOut(page, many=True).data)


class InboundDeliveryDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.InboundDeliveryDetailOut, summary="Get an inbound delivery with its headers and body")
    def get(self, request, delivery_id: str):
        return Response(s.InboundDeliveryDetailOut(selectors.delivery_get(public_id=delivery_id)).data)


class InboundDeliveryReplayApi(APIView):
    required_scopes = {"POST": "ledger:write"}

    @extend_schema(request=None, responses=s.InboundDeliveryOut,
                   summary="Apply a delivery again (idempotent: an applied event replays, nothing posts twice)")
    def post(self, request, delivery_id: str):
        serializer_body(EmptyIn, request)
        delivery = selectors.delivery_get(public_id=delivery_id)
        replayed = inbound_replay(delivery=delivery, actor=Actor.from_request(request))
        return Response(s.InboundDeliveryOut(selectors.delivery_get(public_id=replayed.public_id)).data)
