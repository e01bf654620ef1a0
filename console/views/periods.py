"""Closeout in the console: accounting periods (close, reopen by
maker-checker), the trial balance with its CSV export, and "why did this
balance change" for one account."""
from __future__ import annotations

import datetime as dt

from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_date, parse_datetime

from closeout import errors as closeout_errors
from closeout import selectors
from closeout.models import AccountingPeriod, PeriodReopenRequest, ReopenStatus
from closeout.selectors import closed_through, period_name_for, settings_get
from closeout.services import periods as svc
from console.auth import console_view, error_page
from console.messages import friendly
from console.templatetags.console import new_form_key
from core import errors
from ledger import selectors as ledger_selectors

from core.actors import actor_for
from .common import done, export_url
from core.ids import int_from_text

UTC = dt.timezone.utc
ACTIONS = {"begin_closing", "close", "reopen"}


def _refused(request, exc: errors.ZentraError):
    return error_page(request, status=exc.status, title=exc.title, message=friendly(exc) + " Nothing was changed.",
                      code=exc.code)


@console_view("view")
def period_list(request):
    go = (request.GET.get("go") or "").strip()
    if go:
        # Typed by the user: looked up before it becomes a URL, so a name
        # with a '/' or a NUL in it is "no such period", not a NoReverseMatch.
        try:
            if "\x00" in go:
                raise closeout_errors.PeriodNotFound(f"No period '{go[:100]}'.")
            selectors.period_lookup(go)
            return redirect(reverse("console:period", kwargs={"ref": go}))
        except (closeout_errors.PeriodNotFound, NoReverseMatch) as exc:
            detail = exc.detail if isinstance(exc, closeout_errors.PeriodNotFound) else f"No period '{go[:100]}'."
            return error_page(request, status=404, title="No such period", message=detail, code="period_not_found")
    now = dt.datetime.now(UTC)
    st = settings_get()
    last_month = (now.replace(day=1) - dt.timedelta(days=1))
    return render(request, "console/periods.html", {
        "periods": list(AccountingPeriod.objects.order_by("-start_at")[:200]),
        "settings": st, "closed_through": closed_through(),
        "current": period_name_for(now, st.period_length),
        "previous": period_name_for(last_month if st.period_length == "month" else now, st.period_length),
        "pending_reopens": list(PeriodReopenRequest.objects.filter(status=ReopenStatus.PENDING)
                                .select_related("period")),
    })


@console_view("view")
def period_detail(request, ref: str):
    try:
        tb = selectors.trial_balance(ref)
        period, _, _, _ = selectors.period_lookup(ref)
    except closeout_errors.PeriodNotFound as exc:
        return error_page(request, status=404, title="No such period", message=exc.detail, code=exc.code)
    currency = (request.GET.get("currency") or "").upper()
    rows = [selectors.tb_row_body(r) for r in tb.rows if not currency or r[2] == currency]
    me = actor_for(request).ref
    reopen = (PeriodReopenRequest.objects.filter(period=period, status=ReopenStatus.PENDING).first()
              if period else None)
    own = bool(reopen) and svc._person(reopen.requested_by) == svc._person(me)
    return render(request, "console/period_detail.html", {
        "tb": tb, "period": period, "rows": rows[:2000], "truncated": len(rows) > 2000, "currency": currency,
        "currencies": sorted(tb.totals), "reopen": reopen, "own_reopen": own,
        "can_close": request.user.can("close"), "can_decide": request.user.can("approve") and not own,
        "history": list(PeriodReopenRequest.objects.filter(period=period).order_by("-id")[:20]) if period else [],
        "form_key": new_form_key("per"),
        "export_url": export_url("trial_balance", period=tb.name, currency=currency, back=request.get_full_path())
        if tb.source == "snapshot" and request.user.can("export") else None,
    })


@console_view("close")
def period_action(request, ref: str):
    """Begin closing, close, or reopen. Each transition is itself idempotent
    (a repeated one is refused as an invalid transition), so no form key is
    claimed: closing must not hold one transaction open over the snapshot."""
    if request.method != "POST":
        return error_page(request, status=405, title="Use the buttons", code="method_not_allowed",
                          message="Periods change with the buttons on the period's page.")
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        return error_page(request, status=400, title="Unknown action", code="validation_error",
                          message="Choose begin closing, close or reopen. Nothing was changed.")
    actor = actor_for(request)
    try:
        if action == "begin_closing":
            p = svc.period_begin_closing(actor=actor, ref=ref)
            msg = f"{p.name} is closing: entries dated in it are refused from now on."
        elif action == "close":
            p = svc.period_close(actor=actor, ref=ref)
            msg = f"{p.name} is closed; its period-end balances are snapshotted and sealed into the chain."
        else:
            out = svc.period_reopen_request(actor=actor, ref=ref, reason=request.POST.get("reason", ""))
            if isinstance(out, AccountingPeriod):
                p, msg = out, f"{out.name} is open again (it was only closing)."
            else:
                p, msg = out.period, f"Reopen of {out.period.name} requested; a different person must approve it."
    except errors.ZentraError as exc:
        return _refused(request, exc)
    return done(request, {"redirect": reverse("console:period", kwargs={"ref": p.name}), "message": msg},
                replayed=False)


@console_view("approve")
def reopen_decide(request, public_id: str):
    if request.method != "POST":
        return error_page(request, status=405, title="Use the buttons", code="method_not_allowed",
                          message="Reopen requests are decided with the buttons on the period's page.")
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        return error_page(request, status=400, title="Unknown decision", code="validation_error",
                          message="Approve or reject. Nothing was changed.")
    try:
        req = svc.period_reopen_decide(actor=actor_for(request), public_id=public_id, approve=decision == "approve",
                                       note=request.POST.get("note", ""))
    except errors.ZentraError as exc:
        return _refused(request, exc)
    msg = (f"Approved: {req.period.name} is open again." if req.status == ReopenStatus.APPROVED
           else f"Rejected: {req.period.name} stays closed.")
    return done(request, {"redirect": reverse("console:period", kwargs={"ref": req.period.name}), "message": msg},
                replayed=False)


def _instant(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
        if value is None:
            d = parse_date(raw)
            value = dt.datetime(d.year, d.month, d.day) if d else None
    except ValueError:
        return None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@console_view("view")
def balance_changes(request, code: str):
    account = ledger_selectors.account_get(code)
    now = dt.datetime.now(UTC)
    start = _instant(request.GET.get("from")) or (now - dt.timedelta(days=30))
    end = _instant(request.GET.get("to")) or now
    # Periods are [start, end) by effective date, like the trial balance.
    if (request.GET.get("from") and _instant(request.GET["from"]) is None) or (
            request.GET.get("to") and _instant(request.GET["to"]) is None):
        return error_page(request, status=400, title="Not a date", code="validation_error",
                          message="from and to are dates (2025-01-31) or ISO 8601 instants.")
    if start > end:
        return error_page(request, status=400, title="Inverted range", code="invalid_range",
                          message="'from' is after 'to'.")
    change = selectors.balance_change(account=account, start=start, end=end)
    after = request.GET.get("after")
    lines = change["lines"].order_by("id")
    after_id = int_from_text(after)
    if after_id is not None:
        lines = lines.filter(id__gt=after_id)
    page = list(lines[:101])
    more = len(page) > 100
    page = page[:100]
    return render(request, "console/balance_changes.html", {
        "account": account, "start": start, "end": end, "opening": change["opening"], "closing": change["closing"],
        "change": change["closing"]["posted"] - change["opening"]["posted"],
        "debits": change["debits_minor"], "credits": change["credits_minor"], "lines_count": change["lines_count"],
        "rows": [selectors.balance_change_line(ln, account) for ln in page],
        "next_after": page[-1].id if more and page else None,
        "from_value": start.strftime("%Y-%m-%dT%H:%M:%S"), "to_value": end.strftime("%Y-%m-%dT%H:%M:%S"),
    })
