"""Exports from every console list, through the audit app's exports: the
list's filters become the export kind's filters, the rows are pinned at
creation (chain head for sealed records), the file is streamed and
digested, the manifest is downloadable here, and every download is
audited with the user, the kind and the filters.

A list page only needs a link: `export_url("holds", status=…, account=…)`
(console/views/common.py) -> /console/exports/new/?kind=holds&…"""
from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from rest_framework.exceptions import ValidationError as FilterInvalid

from audit.exports import export_kind_get, export_kind_names
from audit.models import Export
from audit.selectors import export_file_name, export_get
from audit.services.exports import export_create, export_manifest_fetch
from audit.streaming import export_file_response
from console import selectors
from console.auth import console_view, error_page

from core.actors import actor_for
from .common import int_param

# What a person calls each kind, and the list it comes from.
KIND_LABELS = {
    "audit_events": "Audit log",
    "ledger_entries": "Entries",
    "ledger_lines": "Account statement (ledger lines)",
    "holds": "Holds",
    "webhook_deliveries": "Webhook deliveries",
    "trial_balance": "Trial balance",
}


def _back(raw: str | None) -> str:
    return raw if raw and raw.startswith("/console/") and "//" not in raw else ""


@console_view("export")
def export_new(request):
    """Create an export of `kind` with the list's filters (the query string)
    and show it. Creating is a read that leaves evidence (the export row and
    `export.created`); a repeated click creates a second, identical export."""
    params = {k: v for k, v in request.GET.items() if v != ""}
    kind = params.pop("kind", "")
    back = _back(params.pop("back", None))
    try:
        export = export_create(actor=actor_for(request), kind=kind, filters=params)
    except FilterInvalid as exc:
        detail = exc.detail if isinstance(exc.detail, dict) else {"filters": exc.detail}
        message = "; ".join(f"{k}: {' '.join(str(e) for e in (v if isinstance(v, list) else [v]))}"
                            for k, v in detail.items())
        return error_page(request, status=400, title="The filters are not valid", code="validation_error",
                          message=message + " Nothing was exported.")
    url = f"/console/exports/{export.pk}/"
    return redirect(url + (f"?back={back}" if back else ""))


@console_view("export")
def export_list(request):
    rows, older = selectors.keyset(Export.objects.all(), before=int_param(request.GET.get("before")))
    return render(request, "console/exports.html", {
        "rows": [(e, KIND_LABELS.get(e.kind, e.kind)) for e in rows], "older": older,
        "kinds": [(k, KIND_LABELS.get(k, k)) for k in export_kind_names()],
    })


@console_view("export")
def export_detail(request, export_id: int):
    export = export_get(export_id=export_id)
    kind = export_kind_get(export.kind)
    return render(request, "console/export_detail.html", {
        "export": export, "label": KIND_LABELS.get(export.kind, export.kind), "columns": kind.columns,
        "sealed": kind.record_type is not None, "file_name": export_file_name(export=export),
        "back": _back(request.GET.get("back")),
    })


@console_view("export")
def export_file(request, export_id: int):
    export = export_get(export_id=export_id)
    return export_file_response(export=export, actor=actor_for(request), tenant=request.tenant)


@console_view("export")
def export_manifest(request, export_id: int):
    export = export_get(export_id=export_id)
    manifest = export_manifest_fetch(actor=actor_for(request), export=export)
    body = json.dumps(manifest, cls=DjangoJSONEncoder, indent=2, sort_keys=True, ensure_ascii=False)
    response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
    name = export_file_name(export=export).removesuffix(".csv")
    response["Content-Disposition"] = f'attachment; filename="{name}.manifest.json"'
    response["Cache-Control"] = "no-store"
    return response
