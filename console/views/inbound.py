"""Inbound provider deliveries: what each provider sent, what became of it,
and a replay button (idempotent: the posting boundary replays an applied
event, so nothing posts twice)."""
from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from console import selectors
from console.auth import console_view, error_page
from console.forms import KeyedForm
from console.messages import friendly
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from providers import selectors as provider_selectors
from providers.models import InboundStatus
from providers.services.inbound import inbound_replay as replay_service

from core.actors import actor_for
from .common import done, int_param


@console_view("view")
def inbound_list(request):
    providers = list(provider_selectors.provider_list().order_by("slug"))
    provider = request.GET.get("provider") or ""
    if provider not in {p.slug for p in providers}:
        provider = ""
    status = request.GET.get("status") or ""
    if status not in InboundStatus.values:
        status = ""
    qs = provider_selectors.delivery_list(provider=provider or None, status=status or None)
    rows, older = selectors.keyset(qs, before=int_param(request.GET.get("before")))
    return render(request, "console/inbound.html", {
        "rows": rows, "older": older, "providers": providers, "provider": provider, "status": status,
        "statuses": InboundStatus.values, "form_key": new_form_key("inb"),
        "can_replay": request.user.can("post"),
    })


@console_view("post")
def inbound_replay(request, public_id: str):
    if request.method != "POST":
        return error_page(request, status=405, title="Use the form", code="method_not_allowed",
                          message="Deliveries are replayed with the button on the inbound page.")
    form = KeyedForm(request.POST)
    if not form.is_valid():
        return error_page(request, status=400, title="The replay form is not valid", code="validation_error",
                          message="Reload the page and try again. Nothing was changed.")
    actor = actor_for(request)
    back = reverse("console:inbound") + "?" + urlencode({"provider": request.POST.get("provider", "")[:40]})

    def work() -> dict:
        delivery = provider_selectors.delivery_get(public_id=public_id)
        d = replay_service(delivery=delivery, actor=actor)
        last = (d.decisions or [{}])[-1]
        # A replay that still cannot apply is an outcome to read as a refusal.
        level = {"rejected": "error", "failed": "error", "waiting": "warning", "ignored": "warning"}.get(d.status,
                                                                                                      "success")
        return {"redirect": back, "level": level,
                "message": f"Replayed {d.public_id}: {d.status}. {last.get('detail', '')}".strip()}

    try:
        out = form_submission_run(actor=actor, key=form.cleaned_data["form_key"], action="inbound.replay",
                                  payload={"delivery": public_id}, work=work)
    except errors.ZentraError as exc:
        return error_page(request, status=exc.status, title=exc.title, message=friendly(exc), code=exc.code)
    return done(request, out.result, replayed=out.replayed)
