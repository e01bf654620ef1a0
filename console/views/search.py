"""The header's search box: paste any id, land on its page."""
from __future__ import annotations

from django.shortcuts import redirect, render

from console import selectors
from console.auth import console_view

KIND_TITLES = {"entry": "Entries", "account": "Accounts", "hold": "Holds", "event": "Events",
               "delivery": "Webhook deliveries", "approval": "Approval requests", "request": "Requests without an entry"}


@console_view("view")
def search(request):
    q = (request.GET.get("q") or "").strip()[:255]
    groups = selectors.search(q)
    hits = [h for hs in groups.values() for h in hs]
    if len(hits) == 1:
        return redirect(hits[0].url)
    return render(request, "console/search.html", {
        "q": q, "count": len(hits),
        "groups": [(KIND_TITLES[kind], hs) for kind, hs in groups.items()],
    })
