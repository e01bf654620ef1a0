"""Webhook endpoints and deliveries: health, the one-time secret, disable /
enable / rotate / recover, every attempt of a delivery, resend one or every
failed one since a time. Each action is a webhooks service call under the
form's key (form_submission_run); a signing secret is shown on the response
that created it and stored nowhere in clear (not in the form submission's
stored result, not in a message, not in a log)."""
from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from console import selectors
from console.auth import console_view, error_page
from console.forms import (
    DeliveryFilterForm, KeyedForm, ResendFailedConfirmForm, ResendFailedForm, WebhookEndpointActionForm,
    WebhookEndpointForm,
)
from console.messages import friendly
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from core.actors import actor_for
from webhooks import selectors as wh
from events.types import EVENT_TYPES
from webhooks.services.replays import RESEND_LIMIT, delivery_recover_failed, delivery_replay, delivery_resend_failed
from webhooks.services.endpoints import endpoint_create, endpoint_disable, endpoint_enable, endpoint_rotate_secret

from webhooks.models import Delivery
from .common import done, export_url, int_param, use_the_form


def _secret_page(request, *, endpoint, secret: str, rotated: bool):
    """The only place a secret is ever shown; never cached by the browser."""
    response = render(request, "console/webhook_secret.html",
                      {"endpoint": endpoint, "secret": secret, "rotated": rotated})
    response["Cache-Control"] = "no-store"
    return response


# --- endpoints ----------------------------------------------------------------
@console_view("view")
def endpoint_list(request):
    endpoints = list(wh.endpoint_list().order_by("-id")[:200])
    rows = [(e, wh.endpoint_health(e)) for e in endpoints]
    return render(request, "console/webhooks.html", {
        "rows": rows, "can_manage": request.user.can("webhooks"), "failing": wh.failing_summary(),
    })


def _new_page(request, form, *, problem: str = "", code: str = "", status: int = 200):
    return render(request, "console/webhook_new.html", {
        "form": form, "problem": problem, "problem_code": code, "event_types": sorted(EVENT_TYPES.items()),
    }, status=status)


@console_view("webhooks")
def endpoint_new(request):
    if request.method != "POST":
        return _new_page(request, WebhookEndpointForm(initial={"form_key": new_form_key("whe")}))
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _new_page(request, form, status=400)
    d = form.cleaned_data
    actor = actor_for(request)
    revealed: dict = {}

    def work() -> dict:
        created = endpoint_create(actor=actor, url=d["url"], event_types=d["event_types"],
                                  description=d["description"])
        revealed["secret"], revealed["endpoint"] = created.secret, created.endpoint
        return {"redirect": reverse("console:webhook", args=[created.endpoint.public_id]),
                "message": f"Endpoint {created.endpoint.public_id} was created. Its signing secret was shown once, "
                           "on the page that answered the first submit; rotate the secret to get a new one."}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action="webhook_endpoint.create",
                                  payload={k: d[k] for k in ("url", "event_types", "description")}, work=work)
    except errors.ZentraError as exc:
        again = WebhookEndpointForm(request.POST.copy() | {"form_key": new_form_key("whe")}
                                    if exc.code == "idempotency_key_reused" else request.POST)
        again.is_valid()
        return _new_page(request, again, problem=friendly(exc), code=exc.code, status=exc.status)
    if out.replayed:
        return done(request, out.result, replayed=True)
    return _secret_page(request, endpoint=revealed["endpoint"], secret=revealed["secret"], rotated=False)


@console_view("view")
def endpoint_detail(request, public_id: str):
    endpoint = wh.endpoint_get(public_id=public_id)
    recent = list(wh.delivery_search(endpoint=endpoint).order_by("-id")[:20])
    return render(request, "console/webhook_detail.html", {
        "endpoint": endpoint, "health": wh.endpoint_health(endpoint), "recent": recent,
        "latest": wh.latest_attempts(recent), "can_manage": request.user.can("webhooks"),
        "form_key": new_form_key("wha"),
    })


@console_view("webhooks")
def endpoint_action(request, public_id: str):
    if request.method != "POST":
        return use_the_form(request, "the endpoint's page")
    form = WebhookEndpointActionForm(request.POST)
    if not form.is_valid():
        return error_page(request, status=400, title="The form is not valid", code="validation_error",
                          message=" ".join(e for es in form.errors.values() for e in es) + " Nothing was changed.")
    d = form.cleaned_data
    action = d["action"]
    actor = actor_for(request)
    back = reverse("console:webhook", args=[public_id])
    revealed: dict = {}

    def work() -> dict:
        endpoint = wh.endpoint_get(public_id=public_id)
        if action == "disable":
            endpoint_disable(endpoint=endpoint, actor=actor)
            message = f"{public_id} is disabled: new deliveries fail without being sent until it is enabled."
        elif action == "enable":
            endpoint_enable(endpoint=endpoint, actor=actor)
            message = (f"{public_id} is enabled. Deliveries that failed meanwhile stay failed: "
                       "recover them since the outage began.")
        elif action == "rotate":
            rotated = endpoint_rotate_secret(endpoint=endpoint, actor=actor)
            revealed["secret"], revealed["endpoint"] = rotated.secret, rotated.endpoint
            message = (f"The secret of {public_id} was rotated; the new one was shown once, on the page that "
                       "answered the first submit. The previous one keeps signing for 24 hours.")
        else:
            count = delivery_recover_failed(endpoint=endpoint, since=d["since"], actor=actor)
            message = (f"{count} failed deliver{'y' if count == 1 else 'ies'} since "
                       f"{d['since']:%d %b %Y %H:%M} UTC queued again.")
        return {"redirect": back, "message": message}

    payload = {"endpoint": public_id, "action": action, "since": d["since"].isoformat() if d["since"] else None}
    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action=f"webhook_endpoint.{action}",
                                  payload=payload, work=work)
    except errors.ZentraError as exc:
        return error_page(request, status=exc.status, title=exc.title, message=friendly(exc) + " Nothing was changed.",
                          code=exc.code)
    if action == "rotate" and not out.replayed:
        return _secret_page(request, endpoint=revealed["endpoint"], secret=revealed["secret"], rotated=True)
    return done(request, out.result, replayed=out.replayed)


# --- deliveries -----------------------------------------------------------------
@console_view("view")
def delivery_list(request):
    form = DeliveryFilterForm(request.GET or None)
    f = form.cleaned_data if form.is_valid() else {}
    endpoint = wh.endpoint_get(public_id=f["endpoint"]) if f.get("endpoint") else None
    qs = wh.delivery_search(status=f.get("status") or "", event_type=(f.get("type") or "").strip(), endpoint=endpoint)
    rows, older = selectors.keyset(qs, before=int_param(request.GET.get("before")))
    # "failing" and type families are the page's own views: their export is the wider list.
    event_type = (f.get("type") or "").strip()
    link = export_url("webhook_deliveries", back=request.get_full_path(), endpoint=f.get("endpoint"),
                      status=f.get("status") if f.get("status") in Delivery.Status.values else None,
                      event_type=event_type if "*" not in event_type else None)
    return render(request, "console/deliveries.html", {
        "export_url": link if request.user.can("export") else None,
        "form": form, "rows": rows, "older": older, "latest": wh.latest_attempts(rows), "endpoint": endpoint,
        "status": f.get("status") or "", "can_manage": request.user.can("webhooks"),
        "filters": {k: f.get(k) or "" for k in ("status", "type", "endpoint")},
    })


@console_view("view")
def delivery_detail(request, public_id: str):
    delivery = wh.delivery_get(public_id=public_id)
    attempts = list(wh.attempt_list(delivery=delivery).order_by("number"))
    # "Next retry" of an attempt: when the one after it started, or, for the
    # newest, the delivery's schedule.
    rows = [(a, attempts[i + 1].started_at if i + 1 < len(attempts) else None) for i, a in enumerate(attempts)]
    return render(request, "console/delivery_detail.html", {
        "d": delivery, "rows": rows, "can_manage": request.user.can("webhooks"), "form_key": new_form_key("whr"),
    })


@console_view("webhooks")
def delivery_resend(request, public_id: str):
    if request.method != "POST":
        return use_the_form(request, "the delivery's page")
    form = KeyedForm(request.POST)
    if not form.is_valid():
        return error_page(request, status=400, title="The resend form is not valid", code="validation_error",
                          message="Reload the page and try again. Nothing was changed.")
    key = form.cleaned_data["form_key"]
    actor = actor_for(request)

    def work() -> dict:
        delivery = delivery_replay(delivery=wh.delivery_get(public_id=public_id), actor=actor)
        return {"redirect": reverse("console:delivery", args=[delivery.public_id]),
                "message": f"{delivery.public_id} queued for one more attempt now (same webhook-id)."}

    try:
        out = form_submission_run(actor=actor, key=key, action="webhook_delivery.replay",
                                  payload={"delivery": public_id}, work=work)
    except errors.ZentraError as exc:
        return error_page(request, status=exc.status, title=exc.title, message=friendly(exc) + " Nothing was changed.",
                          code=exc.code)
    return done(request, out.result, replayed=out.replayed)


@console_view("webhooks")
def delivery_resend_failed_view(request):
    """GET: pick a time, then a confirm step that says how many will go;
    POST (the confirm form, with its key): queue them."""
    if request.method != "POST":
        form = ResendFailedForm(request.GET or None)
        if not request.GET.get("since") or not form.is_valid():
            return render(request, "console/resend_failed.html", {"form": form, "limit": RESEND_LIMIT},
                          status=400 if request.GET.get("since") else 200)
        d = form.cleaned_data
        endpoint = wh.endpoint_get(public_id=d["endpoint"]) if d.get("endpoint") else None
        base = wh.delivery_search(status="failed", event_type=d["type"], endpoint=endpoint, since=d["since"])
        cap = RESEND_LIMIT * 20
        counts = {
            "failed": wh.capped_count(base, cap), "cap": cap,
            "resendable": wh.capped_count(wh.resendable_failed(since=d["since"], event_type=d["type"],
                                                               endpoint=endpoint), cap),
        }
        counts["now"] = min(counts["resendable"], RESEND_LIMIT)
        counts["disabled"] = counts["failed"] - counts["resendable"]
        return render(request, "console/resend_failed.html", {
            "form": form, "confirm": True, "counts": counts, "limit": RESEND_LIMIT, "d": d,
            "since_value": d["since"].strftime("%Y-%m-%dT%H:%M:%S"), "form_key": new_form_key("whf"),
        })
    form = ResendFailedConfirmForm(request.POST)
    if not form.is_valid():
        return error_page(request, status=400, title="The form is not valid", code="validation_error",
                          message=" ".join(e for es in form.errors.values() for e in es) + " Nothing was changed.")
    d = form.cleaned_data
    actor = actor_for(request)
    query = {"status": "failing", "type": d["type"], "endpoint": d["endpoint"]}
    back = reverse("console:deliveries") + "?" + urlencode({k: v for k, v in query.items() if v})

    def work() -> dict:
        endpoint = wh.endpoint_get(public_id=d["endpoint"]) if d.get("endpoint") else None
        count = delivery_resend_failed(since=d["since"], event_type=d["type"], endpoint=endpoint, actor=actor)
        more = " Run it again for the rest." if count >= RESEND_LIMIT else ""
        return {"redirect": back, "message": f"{count} failed deliver{'y' if count == 1 else 'ies'} since "
                                             f"{d['since']:%d %b %Y %H:%M} UTC queued again.{more}"}

    payload = {"since": d["since"].isoformat(), "type": d["type"], "endpoint": d["endpoint"]}
    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action="webhook_delivery.resend_failed",
                                  payload=payload, work=work)
    except errors.ZentraError as exc:
        return error_page(request, status=exc.status, title=exc.title, message=friendly(exc) + " Nothing was changed.",
                          code=exc.code)
    return done(request, out.result, replayed=out.replayed)
