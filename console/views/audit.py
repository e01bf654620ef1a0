from __future__ import annotations

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.services.exports import export_size_check
from console import selectors
from audit import errors
from console.auth import console_view, error_page
from console.exports import audit_csv_stream
from console.forms import AuditFilterForm

from .common import int_param


def _filtered(request):
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    f = form.cleaned_data if form.is_bound else {}
    return form, selectors.audit_event_list(
        occurred_after=f.get("start"), occurred_before=f.get("end"), actor=f.get("actor", ""),
        action=f.get("action", ""), correlation_id=f.get("correlation_id", ""), target=f.get("target", ""),
    )


@console_view("audit")
def audit_list(request):
    form, qs = _filtered(request)
    rows, older = selectors.keyset(qs, before=int_param(request.GET.get("before"))) if qs is not None else ([], None)
    return render(request, "console/audit.html", {"form": form, "rows": rows, "older": older,
                                                  "can_export": request.user.can("export")},
                  status=200 if qs is not None else 400)


@console_view("export")
def audit_csv(request):
    form, qs = _filtered(request)
    if qs is None:
        return error_page(request, status=400, title="The filters are not valid", code="validation_error",
                          message="; ".join(e for es in form.errors.values() for e in es))
    tenant = request.tenant
    try:
        export_size_check(count=lambda n: qs[:n].count())
    except errors.ExportTooLarge as exc:
        return error_page(request, status=exc.status, title="Too many rows for one export", code=exc.code,
                          message=exc.detail)

    def rows():
        # The response streams after the tenant middleware has switched the
        # connection back to public, so the generator selects the schema itself.
        with tenant_context(tenant):
            yield from audit_csv_stream(qs)

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    resp = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="audit-{tenant.slug}-{stamp}.csv"'
    resp["Cache-Control"] = "no-store"
    return resp
