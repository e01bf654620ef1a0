"""Webhooks and events API. Views parse, authorize (required_scopes) and call
a selector or a service; nothing else."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import cursor_page_schema

from core.actors import Actor
from ledger.api.fields import idempotency_header
from ledger.services.boundary import idempotency_key_clean, request_hash
from webhooks import selectors
from webhooks.api import serializers as s
from events.types import EVENT_TYPES
from webhooks.services.replays import delivery_recover_failed, delivery_replay
from webhooks.services.endpoints import (
    endpoint_create, endpoint_create_once, endpoint_disable, endpoint_enable, endpoint_rotate_secret, endpoint_update,
)
from core.api import StrictSerializer, ZentraCursorPagination, serializer_body, serializer_query

MANAGE = "webhooks:manage"


class AttemptPagination(ZentraCursorPagination):
    ordering = "number"


def _page(view: APIView, request, queryset, out_cls, pagination=ZentraCursorPagination) -> Response:
    paginator = pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(out_cls(page, many=True).data)


class EmptyIn(StrictSerializer):
    pass


# --- events -------------------------------------------------------------------
class EventListApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(parameters=[s.EventListQuery], responses=cursor_page_schema(s.EventOut, name="EventPage"), operation_id="events_list", summary="List events (newest first)")
    def get(self, request):
        q = serializer_query(s.EventListQuery, request)
        events = selectors.event_list(
            types=q.get("type"), created_after=q.get("created_after"), created_before=q.get("created_before"),
        )
        return _page(self, request, events, s.EventOut)


class EventDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.EventOut, summary="Get one event")
    def get(self, request, event_id: str):
        return Response(s.EventOut(selectors.event_get(public_id=event_id)).data)


class EventTypeListApi(APIView):
    required_scopes = {"GET": MANAGE}

    @extend_schema(responses=inline_serializer(name="EventTypeList", fields={"data": s.EventTypeOut(many=True)}), summary="Event types an endpoint can subscribe to")
    def get(self, request):
        rows = [{"type": t, "description": d} for t, d in sorted(EVENT_TYPES.items())]
        return Response({"data": s.EventTypeOut(rows, many=True).data})


# --- endpoints ------------------------------------------------------------------
CREATE_IDEMPOTENCY_HEADER = idempotency_header(
    "Optional: a retry with the same key answers the first response (the secret included) and creates nothing.")


class EndpointListCreateApi(APIView):
    required_scopes = {"GET": MANAGE, "POST": MANAGE}

    @extend_schema(parameters=[s.EndpointListQuery], responses=cursor_page_schema(s.EndpointOut, name="WebhookEndpointPage"), operation_id="webhook_endpoints_list", summary="List webhook endpoints")
    def get(self, request):
        q = serializer_query(s.EndpointListQuery, request)
        return _page(self, request, selectors.endpoint_list(enabled=q.get("enabled")), s.EndpointOut)

    @extend_schema(
        request=s.EndpointCreateIn, responses={201: s.EndpointWithSecretOut}, parameters=[CREATE_IDEMPOTENCY_HEADER],
        summary="Create a webhook endpoint (the signing secret is shown once)",
    )
    def post(self, request):
        data = serializer_body(s.EndpointCreateIn, request)
        actor = Actor.from_request(request)
        key = request.headers.get("Idempotency-Key")
        if key is None:
            created = endpoint_create(actor=actor, **data)
            return Response(s.EndpointOut(created.endpoint).data | {"secret": created.secret}, status=201)
        created, replayed = endpoint_create_once(
            actor=actor, idempotency_key=idempotency_key_clean(header=key, body_value=None),
            req_hash=request_hash(operation="webhook_endpoint.create", payload=request.data), **data)
        response = Response(s.EndpointOut(created.endpoint).data | {"secret": created.secret}, status=201)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class EndpointDetailApi(APIView):
    required_scopes = {"GET": MANAGE, "PATCH": MANAGE}

    @extend_schema(responses=s.EndpointOut, summary="Get a webhook endpoint")
    def get(self, request, endpoint_id: str):
        return Response(s.EndpointOut(selectors.endpoint_get(public_id=endpoint_id)).data)

    @extend_schema(request=s.EndpointUpdateIn, responses=s.EndpointOut, summary="Change URL, event types or description")
    def patch(self, request, endpoint_id: str):
        data = serializer_body(s.EndpointUpdateIn, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        return Response(s.EndpointOut(endpoint_update(endpoint=endpoint, actor=Actor.from_request(request), **data)).data)


class EndpointRotateSecretApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(
        request=None, responses=s.EndpointWithSecretOut,
        summary="Rotate the signing secret (the old one keeps signing for 24 h)",
    )
    def post(self, request, endpoint_id: str):
        serializer_body(EmptyIn, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        rotated = endpoint_rotate_secret(endpoint=endpoint, actor=Actor.from_request(request))
        return Response(s.EndpointOut(rotated.endpoint).data | {"secret": rotated.secret})


class EndpointDisableApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(request=None, responses=s.EndpointOut, summary="Disable an endpoint")
    def post(self, request, endpoint_id: str):
        serializer_body(EmptyIn, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        return Response(s.EndpointOut(endpoint_disable(endpoint=endpoint, actor=Actor.from_request(request))).data)


class EndpointEnableApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(request=None, responses=s.EndpointOut, summary="Enable an endpoint")
    def post(self, request, endpoint_id: str):
        serializer_body(EmptyIn, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        return Response(s.EndpointOut(endpoint_enable(endpoint=endpoint, actor=Actor.from_request(request))).data)


class EndpointRecoverApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(request=s.RecoverIn, responses={202: s.RecoverOut}, summary="Replay every delivery that failed since a time")
    def post(self, request, endpoint_id: str):
        data = serializer_body(s.RecoverIn, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        count = delivery_recover_failed(endpoint=endpoint, since=data["since"], actor=Actor.from_request(request))
        body = {"endpoint_id": endpoint.public_id, "since": data["since"], "deliveries_queued": count}
        return Response(s.RecoverOut(body).data, status=202)


class EndpointDeliveryListApi(APIView):
    required_scopes = {"GET": MANAGE}

    @extend_schema(parameters=[s.DeliveryListQuery], responses=cursor_page_schema(s.DeliveryOut, name="DeliveryPage"), operation_id="webhook_deliveries_list", summary="List an endpoint's deliveries")
    def get(self, request, endpoint_id: str):
        q = serializer_query(s.DeliveryListQuery, request)
        endpoint = selectors.endpoint_get(public_id=endpoint_id)
        return _page(self, request, selectors.delivery_list(endpoint=endpoint, status=q.get("status")), s.DeliveryOut)


# --- deliveries -------------------------------------------------------------------
class DeliveryDetailApi(APIView):
    required_scopes = {"GET": MANAGE}

    @extend_schema(responses=s.DeliveryDetailOut, summary="Get a delivery with its attempts")
    def get(self, request, delivery_id: str):
        return Response(s.DeliveryDetailOut(selectors.delivery_get(public_id=delivery_id)).data)


class DeliveryAttemptListApi(APIView):
    required_scopes = {"GET": MANAGE}

    @extend_schema(parameters=[s._PageQuery], responses=cursor_page_schema(s.AttemptOut, name="AttemptPage"), operation_id="webhook_attempts_list", summary="List a delivery's attempts")
    def get(self, request, delivery_id: str):
        serializer_query(s._PageQuery, request)
        delivery = selectors.delivery_get(public_id=delivery_id)
        return _page(self, request, selectors.attempt_list(delivery=delivery), s.AttemptOut, AttemptPagination)


class DeliveryReplayApi(APIView):
    required_scopes = {"POST": MANAGE}

    @extend_schema(request=None, responses={202: s.DeliveryOut}, summary="Send a delivery again now (same webhook-id)")
    def post(self, request, delivery_id: str):
        serializer_body(EmptyIn, request)
        delivery = selectors.delivery_get(public_id=delivery_id)
        replayed = delivery_replay(delivery=delivery, actor=Actor.from_request(request))
        return Response(s.DeliveryOut(replayed).data, status=202)
