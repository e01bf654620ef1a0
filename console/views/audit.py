from __future__ import annotations

from django.shortcuts import render

from audit.selectors import audit_actions, audit_events_filter, chain_head
from audit.services.chain import chain_verify_record
from console import selectors
from console.auth import console_view
from console.forms import AuditFilterForm

from core.actors import actor_for
from .common import export_url, int_param


@console_view("audit")
def audit_list(request):
    form = AuditFilterForm(request.GET or None, actions=audit_actions())
    valid = not form.is_bound or form.is_valid()
    filters = form.audit_filters() if valid else {}
    rows, older = (selectors.keyset(audit_events_filter(filters=filters), before=int_param(request.GET.get("before")))
                   if valid else ([], None))
    return render(request, "console/audit.html", {
        "form": form, "rows": rows, "older": older, "head": chain_head(),
        "export_url": export_url("audit_events", back=request.get_full_path(), **filters)
        if valid and request.user.can("export") else None,
    }, status=200 if valid else 400)


@console_view("audit")
def audit_verify(request):
    """Seal what is pending, recompute every link from the records' current
    rows, and show the result; the verification itself is audited
    (`audit.chain_verified`). A read that leaves evidence: a second click
    verifies again, which is what a second click asks for."""
    report = chain_verify_record(actor=actor_for(request))
    return render(request, "console/audit_verify.html", {"report": report, "body": report.as_dict()})
