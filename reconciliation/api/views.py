"""Reconciliation API: parse, authorize, call a service or selector, render."""
from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from reconciliation import errors
from ledger.services.boundary import KEY_PATTERN, idempotency_key_clean
from core.api import (
    BoundedJSONParser, CheckedCursorMixin, ZentraCursorPagination, cursor_page_schema, query_params_clean,
)
from core.problems import PROBLEM_CONTENT_TYPE

from .. import selectors
from ..presenters import item_body, run_body
from ..services.imports import reconciliation_import, reconciliation_rerun
from ..services.resolution import ADJUST, reconciliation_item_resolve
from . import serializers as s


class _UploadLimit(FileUploadHandler):
    """Stops reading a multipart body once the file passes the limit, even
    when no Content-Length announced it (chunked transfer)."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit, self.seen = limit, 0

    def receive_data_chunk(self, raw_data, start):
        self.seen += len(raw_data)
        if self.seen > self.limit:
            raise errors.StatementTooLarge(f"The statement is over the {self.limit}-byte limit.", limit=self.limit)
        return raw_data

    def file_complete(self, file_size):
        return None


class _ItemPagination(CheckedCursorMixin, CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "id"  # statement order, then the ledger entries the provider never reported

    def get_page_size(self, request):
        # Items are small and read in bulk: 500 a page unless the tenant was
        # given a lower max_page_size of its own (Tenant.limits), which wins.
        tenant = getattr(getattr(request, "_request", request), "tenant", None)
        own = (getattr(tenant, "limits", None) or {}).get("max_page_size")
        if isinstance(own, int) and not isinstance(own, bool) and 0 < own < self.max_page_size:
            self.max_page_size = own
            self.page_size = min(self.page_size, own)
        return super().get_page_size(request)


def _run_out(run) -> dict:
    return s.ReconciliationOut(run_body(run)).data


def _item_out(item) -> dict:
    return s.ItemOut(item_body(item)).data


def _paginate(request, view, queryset, render, paginator=None):
    paginator = paginator or ZentraCursorPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(obj) for obj in page])


class ReconciliationListCreateApi(APIView):
    required_scopes = {"GET": "ledger:read", "POST": "ledger:write"}
    parser_classes = [MultiPartParser]
    FILTERS = {"account", "status"}

    @extend_schema(parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)],
                   responses=cursor_page_schema(s.ReconciliationOut, name="ReconciliationPage"), operation_id="reconciliations_list", summary="List reconciliation runs")
    def get(self, request):
        params = query_params_clean(request, self.FILTERS)
        account = selectors.account_for_reconciliation(params["account"]) if params.get("account") else None
        return _paginate(request, self, selectors.run_list(account=account, status=params.get("status")), _run_out)

    @extend_schema(
        request={"multipart/form-data": s.ReconciliationImportIn},
        responses={202: s.ReconciliationOut, 200: OpenApiResponse(s.ReconciliationOut, description=(
            "The same file was already imported for this account: the existing run, with `duplicate_of` "
            "and the `Duplicate-Of` header."))},
        summary="Import a provider statement (validated now, matched by a worker)",
    )
    def post(self, request):
        request._request.upload_handlers.insert(
            0, _UploadLimit(request._request, settings.RECONCILIATION_MAX_UPLOAD_BYTES))
        data = s.ReconciliationImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        outcome = reconciliation_import(
            actor=Actor.from_request(request), account=selectors.account_for_reconciliation(v["account"]),
            format=v["format"], fileobj=v["file"], file_name=v["file"].name or "",
            date_window_days=v["date_window_days"], amount_basis=v["amount_basis"],
            period_start=v.get("period_start"), period_end=v.get("period_end"),
        )
        headers = {"Location": f"/v1/reconciliations/{outcome.run.pk}"}
        if outcome.duplicate:
            body = s.ReconciliationOut(run_body(outcome.run) | {"duplicate_of": outcome.run.pk}).data
            return Response(body, status=200, headers=headers | {"Duplicate-Of": str(outcome.run.pk)})
        return Response(_run_out(outcome.run), status=202, headers=headers)


class ReconciliationDetailApi(APIView):
    required_scopes = {"GET": "ledger:read"}

    @extend_schema(responses=s.ReconciliationOut, summary="A reconciliation run: status, progress, counts, totals")
    def get(self, request, run_id: str):
        query_params_clean(request, set())
        return Response(_run_out(selectors.run_get(run_id)))


class ReconciliationItemListApi(APIView):
    required_scopes = {"GET": "ledger:read"}
    FILTERS = {"kind", "status"}

    @extend_schema(parameters=[OpenApiParameter(f, str) for f in sorted(FILTERS)],
                   responses=cursor_page_schema(s.ItemOut, name="ReconciliationItemPage"), operation_id="reconciliation_items_list", summary="A run's items (cursor pages, in statement order)")
    def get(self, request, run_id: str):
        params = query_params_clean(request, self.FILTERS)
        run = selectors.run_get(run_id)
        qs = selectors.item_list(run=run, kind=params.get("kind"), status=params.get("status"))
        return _paginate(request, self, qs, _item_out, paginator=_ItemPagination())


class ReconciliationItemResolveApi(APIView):
    required_scopes = {"POST": "ledger:write"}
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=s.ItemResolveIn,
        parameters=[OpenApiParameter("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255,
                                                       "pattern": KEY_PATTERN}, OpenApiParameter.HEADER, required=False,
                                     description="Optional: by default the key is derived from the run and the item")],
        responses={200: s.ItemOut}, summary="Resolve an exception: post an adjusting entry, or explain it",
    )
    def post(self, request, run_id: str, item_id: int):
        data = s.ItemResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        header_key = request.headers.get("Idempotency-Key")
        key = idempotency_key_clean(header=header_key, body_value=None) if header_key is not None else None
        counter = None
        if v["action"] == ADJUST and v.get("counter_account"):
            counter = selectors.account_for_reconciliation(v["counter_account"])
        run = selectors.run_get(run_id)
        outcome = reconciliation_item_resolve(
            actor=Actor.from_request(request), tenant=request.auth.tenant.slug, run_id=run.pk, item_id=item_id,
            action=v["action"], note=v["note"], counter_account=counter, idempotency_key=key,
        )
        if outcome.rejected:
            resp = Response(outcome.posting.body | {"item": outcome.item.pk}, status=outcome.posting.status,
                            headers={"Idempotent-Replayed": "true"} if outcome.posting.replayed else {})
            resp.content_type = PROBLEM_CONTENT_TYPE
            return resp
        item = selectors.item_get(run=run, item_id=outcome.item.pk)
        return Response(_item_out(item), status=200,
                        headers={"Idempotent-Replayed": "true"} if outcome.replayed else {})


class ReconciliationRerunApi(APIView):
    required_scopes = {"POST": "ledger:write"}
    parser_classes = [BoundedJSONParser]

    @extend_schema(request=s.ReconciliationRerunIn, responses={202: s.ReconciliationOut},
                   summary="Match the same statement again against the ledger as it is now")
    def post(self, request, run_id: str):
        data = s.ReconciliationRerunIn(data=request.data or {})
        data.is_valid(raise_exception=True)
        run = reconciliation_rerun(actor=Actor.from_request(request), run=selectors.run_get(run_id),
                                   date_window_days=data.validated_data.get("date_window_days"))
        return Response(_run_out(run), status=202, headers={"Location": f"/v1/reconciliations/{run.pk}"})
