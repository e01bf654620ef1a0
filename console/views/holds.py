"""Holds: the list, one hold with its path, capture and release.

Capture and release are money: the form's key is the hold service's
idempotency key and the request hash is the API's, so a double submit is
the same request answered once, whichever channel sent it."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from console import selectors
from console.auth import console_view
from console.forms import HoldCaptureForm, HoldFilterForm, HoldReleaseForm
from console.messages import friendly
from console.panels import account_panel
from console.templatetags.console import money, new_form_key
from core import errors
from ledger import selectors as ledger_selectors
from ledger.services.boundary import request_hash
from ledger.services.holds import hold_capture, hold_release

from core.actors import actor_for
from ledger.models import HoldStatus
from .common import export_url, int_param, use_the_form

KEY_PREFIX = "hld"


@console_view("view")
def hold_list(request):
    form = HoldFilterForm(request.GET or None)
    f = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    account = selectors.account_by_code(f["account"]) if f.get("account") else None
    older = f.get("older_than_days")
    within = f.get("expiring_within_hours")
    qs = ledger_selectors.hold_list(
        account=account, status=f.get("status") or None,
        created_before=now - dt.timedelta(days=older) if older else None,
        expiring_before=now + dt.timedelta(hours=within) if within else None,
    )
    rows, older_id = selectors.keyset(qs, before=int_param(request.GET.get("before")))
    # The export takes what its kind can filter by: "open" and "expiring"
    # are the page's own views, so their export is the wider list.
    status = f.get("status") if f.get("status") in HoldStatus.values else None
    link = export_url("holds", back=request.get_full_path(), account=f.get("account"), status=status,
                      created_before=now - dt.timedelta(days=older) if older else None)
    return render(request, "console/holds.html", {"form": form, "rows": rows, "older": older_id, "now": now,
                                                  "export_url": link if request.user.can("export") else None})


def _hold_page(request, hold, *, capture=None, release=None, problem: str = "", code: str = "",
               evidence: str | None = None, status: int = 200):
    accounts = selectors.open_accounts()
    if capture is None:
        capture = HoldCaptureForm(hold=hold, accounts=accounts, initial={"form_key": new_form_key(KEY_PREFIX)})
    if release is None:
        release = HoldReleaseForm(initial={"form_key": new_form_key(KEY_PREFIX)})
    return render(request, "console/hold_detail.html", {
        "hold": hold, "path": selectors.hold_path(hold), "capture": capture, "release": release,
        "problem": problem, "problem_code": code, "evidence": evidence, "now": timezone.now(),
        "can_act": hold.is_open and request.user.can("hold"),
    }, status=status)


@console_view("view")
def hold_detail(request, ref: str):
    return _hold_page(request, selectors.hold_get(ref))


def _refused(request, hold, form, *, which: str, exc: errors.ZentraError | None = None, outcome=None):
    """The form comes back with the reason. A validation error is not
    remembered under the key (fix and resend); a policy rejection is, so the
    form gets a fresh key and a link to the rejection's evidence."""
    data = form.data.copy()
    evidence = None
    if outcome is not None:
        message, code, status = outcome.body.get("detail", "Rejected."), outcome.body.get("code", ""), outcome.status
        evidence = reverse("console:evidence") + "?" + urlencode({"key": form.data.get("form_key", "")})
        data["form_key"] = new_form_key(KEY_PREFIX)
    else:
        message, code, status = friendly(exc), exc.code, exc.status
        if isinstance(exc, errors.IdempotencyKeyReused):
            data["form_key"] = new_form_key(KEY_PREFIX)
    hold = selectors.hold_get(hold.hold_id)  # re-read: the refusal changed nothing, but show what is true now
    if which == "capture":
        again = HoldCaptureForm(data, hold=hold, accounts=selectors.open_accounts())
        again.is_valid()
        return _hold_page(request, hold, capture=again, problem=message, code=code, evidence=evidence, status=status)
    again = HoldReleaseForm(data)
    again.is_valid()
    return _hold_page(request, hold, release=again, problem=message, code=code, evidence=evidence, status=status)


@console_view("hold")
def hold_capture_view(request, ref: str):
    hold = selectors.hold_get(ref)
    if request.method != "POST":
        return use_the_form(request, "the hold's page")
    form = HoldCaptureForm(request.POST, hold=hold, accounts=selectors.open_accounts())
    if not form.is_valid():
        return _hold_page(request, hold, capture=form, problem="The capture was not sent; nothing was changed.",
                          code="validation_error", status=400)
    d = form.cleaned_data
    raw = {k: v for k, v in (("amount_minor", d["amount"]), ("destination", d["destination"]),
                             ("release_remainder", d["release_remainder"] or None),
                             ("description", d["description"])) if v}
    try:
        outcome = hold_capture(
            actor=actor_for(request), tenant=request.tenant.slug, hold_id=hold.id, idempotency_key=d["form_key"],
            req_hash=request_hash(operation="hold.capture", payload={"hold": hold.id, **raw}),
            amount_minor=d["amount"], destination=d["destination"], release_remainder=d["release_remainder"],
            description=d["description"], metadata={"channel": "console"},
        )
    except errors.ZentraError as exc:
        return _refused(request, hold, form, which="capture", exc=exc)
    if outcome.is_problem:
        return _refused(request, hold, form, which="capture", outcome=outcome)
    body = outcome.body
    if outcome.replayed:
        messages.info(request, "This form was already submitted, so nothing was captured twice. "
                               "Here is the hold as it is now.")
    else:
        messages.success(request, f"Captured {money(body['captured_minor'], hold.currency)} {hold.currency} "
                                  f"into {d['destination'] or hold.destination.code}; posted {body['entry']['posting_id']}.")
    return redirect("console:hold", ref=hold.hold_id)


@console_view("hold")
def hold_release_view(request, ref: str):
    hold = selectors.hold_get(ref)
    if request.method != "POST":
        return use_the_form(request, "the hold's page")
    form = HoldReleaseForm(request.POST)
    if not form.is_valid():
        return _hold_page(request, hold, release=form, problem="The release was not sent; nothing was changed.",
                          code="validation_error", status=400)
    d = form.cleaned_data
    raw = {"reason": d["reason"]} if d["reason"] else {}
    try:
        outcome = hold_release(
            actor=actor_for(request), tenant=request.tenant.slug, hold_id=hold.id, idempotency_key=d["form_key"],
            req_hash=request_hash(operation="hold.release", payload={"hold": hold.id, **raw}), reason=d["reason"],
        )
    except errors.ZentraError as exc:
        return _refused(request, hold, form, which="release", exc=exc)
    if outcome.replayed:
        messages.info(request, "This form was already submitted, so nothing was released twice.")
    else:
        messages.success(request, f"Released {money(outcome.body['released_now_minor'], hold.currency)} "
                                  f"{hold.currency}; the hold is closed.")
    return redirect("console:hold", ref=hold.hold_id)


@account_panel
def holds_panel(account):
    summary = selectors.account_holds(account)
    if not summary["total"]:
        return None
    return {"title": f"Holds ({summary['open_count']} open)", "template": "console/panels/holds.html",
            "context": summary | {"account": account,
                                  "list_url": reverse("console:holds") + "?" + urlencode({"account": account.code})}}

