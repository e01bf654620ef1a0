from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import Actor
from audit.exports import export_kind_get
from audit.filters import AuditEventFilters, filters_parse
from audit.models import Export
from audit.selectors import audit_events_list, export_file_name, export_get
from audit.services.chain import chain_verify
from audit.services.exports import export_create, export_manifest_fetch
from audit.streaming import export_file_response
from core import errors as core_errors
from core.api import ZentraCursorPagination, query_params_clean

from . import serializers as s


def _authorize_kind(request, kind_name: str):
    kind = export_kind_get(kind_name)
    if not request.auth.has_scope(kind.scope):
        raise core_errors.InsufficientScope(f"Exports of '{kind.name}' need the '{kind.scope}' scope.",
                                       required_scope=kind.scope)
    return kind


def _export_body(export: Export) -> dict:
    return {
        "id": export.pk, "kind": export.kind, "filters": export.filters, "exporter": export.exporter,
        "created_at": export.created_at,
        "chain_head": ({"seq": export.chain_head_seq, "hash": export.chain_head_hash}
                       if export.chain_head_seq is not None else None),
        "row_count": export.row_count, "sha256": export.sha256,
        "file": f"/v1/exports/{export.pk}/file", "manifest": f"/v1/exports/{export.pk}/manifest",
    }


class AuditEventListApi(APIView):
    required_scopes = {"GET": "audit:read"}

    @extend_schema(
        parameters=[OpenApiParameter(name, OpenApiTypes.DATETIME if name.startswith("occurred") else str,
                                     description=str(field.help_text or ""))
                    for name, field in AuditEventFilters().fields.items()],
        responses=s.AuditEventPageOut, summary="Browse audit events (compliance)",
    )
    def get(self, request):
        params = query_params_clean(request, set(AuditEventFilters().fields))
        params.pop("cursor", None)
        params.pop("limit", None)
        qs = audit_events_list(filters=filters_parse(AuditEventFilters, params))
        paginator = ZentraCursorPagination()
        try:
            page = paginator.paginate_queryset(qs, request, view=self)
        except drf.NotFound as exc:
            raise core_errors.InvalidCursor(field="cursor") from exc
        return paginator.get_paginated_response(s.AuditEventOut(page, many=True).data)


class ChainVerifyApi(APIView):
    required_scopes = {"GET": "audit:read"}

    @extend_schema(responses=s.ChainReportOut, summary="Seal pending records, then verify the tenant's hash chain")
    def get(self, request):
        return Response(s.ChainReportOut(chain_verify().as_dict()).data)


class ExportCreateApi(APIView):
    required_scopes = {"POST": "audit:read"}

    @extend_schema(request=s.ExportIn, responses={201: s.ExportOut}, summary="Create a CSV export (rows pinned now)")
    def post(self, request):
        data = s.ExportIn(data=request.data)
        data.is_valid(raise_exception=True)
        kind = _authorize_kind(request, data.validated_data["kind"])
        export = export_create(actor=Actor.from_request(request), kind=kind.name,
                               filters=data.validated_data["filters"])
        return Response(s.ExportOut(_export_body(export)).data, status=201)


class ExportDetailApi(APIView):
    required_scopes = {"GET": "audit:read"}

    @extend_schema(responses=s.ExportOut, summary="One export")
    def get(self, request, export_id: int):
        export = export_get(export_id=export_id)
        _authorize_kind(request, export.kind)
        return Response(s.ExportOut(_export_body(export)).data)


class ExportFileApi(APIView):
    required_scopes = {"GET": "audit:read"}

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY)},
                   summary="Stream the export's CSV (the manifest's SHA-256 is of these bytes)")
    def get(self, request, export_id: int):
        export = export_get(export_id=export_id)
        _authorize_kind(request, export.kind)
        return export_file_response(export=export, actor=Actor.from_request(request), tenant=request.auth.tenant)


class ExportManifestApi(APIView):
    required_scopes = {"GET": "audit:read"}

    @extend_schema(responses=s.ManifestOut, summary="The export's manifest (computes the digest if needed)")
    def get(self, request, export_id: int):
        export = export_get(export_id=export_id)
        _authorize_kind(request, export.kind)
        manifest = export_manifest_fetch(actor=Actor.from_request(request), export=export)
        response = Response(s.ManifestOut(manifest).data)
        name = export_file_name(export=export).removesuffix(".csv")
        response["Content-Disposition"] = f'inline; filename="{name}.manifest.json"'
        return response
