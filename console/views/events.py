from __future__ import annotations

from django.shortcuts import render

from console import selectors
from console.auth import console_view

from .common import int_param


@console_view("view")
def event_list(request):
    prefix = (request.GET.get("type") or "").strip()[:80]
    public_id = (request.GET.get("id") or "").strip()[:40]
    rows, older = selectors.keyset(selectors.event_list(type_prefix=prefix, public_id=public_id),
                                   before=int_param(request.GET.get("before")))
    return render(request, "console/events.html", {"rows": rows, "older": older, "type": prefix, "id": public_id})
