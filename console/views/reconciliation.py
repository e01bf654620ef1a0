"""Reconciliation in the console: upload a provider statement, watch the
worker match it, work through the breaks (pair by hand, ask for an adjusting
entry that a second person approves, or explain)."""
from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from console import selectors as console_selectors
from console.auth import console_view
from console.charts import major
from console.forms import ItemAdjustForm, ItemExplainForm, ItemMatchForm, KeyedForm, StatementUploadForm
from console.messages import friendly
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from core.actors import actor_for
from ledger.models import ApprovalKind, ApprovalRequest
from reconciliation import errors as reconciliation_errors
from reconciliation import selectors
from reconciliation.models import EXCEPTION_KINDS, ItemKind, ItemStatus, RunStatus
from reconciliation.services.imports import reconciliation_import, reconciliation_rerun
from reconciliation.services.resolution import (
    EXPLAIN, reconciliation_adjustment_request, reconciliation_item_match, reconciliation_item_resolve,
)

from .common import done, form_invalid, int_param, use_the_form

ITEMS_PAGE = 100
KIND_LABELS = {
    ItemKind.MISSING_IN_LEDGER: "Missing in ledger", ItemKind.MISSING_AT_PROVIDER: "Missing at provider",
    ItemKind.AMOUNT_DRIFT: "Amount drift", ItemKind.CURRENCY_DRIFT: "Currency drift",
    ItemKind.DUPLICATE_IN_STATEMENT: "Duplicate in statement", ItemKind.MATCHED: "Matched",
}
FORMAT_LABELS = {"generic_csv": "Generic CSV", "stripe_balance_csv": "Stripe balance transactions"}
REFRESH_SECONDS = 2


@console_view("view")
def run_list(request):
    rows, older = console_selectors.keyset(selectors.run_list(), before=int_param(request.GET.get("before")))
    for r in rows:
        r.format_label = FORMAT_LABELS.get(r.format, r.format)
        r.breaks = sum(int((r.counts or {}).get(k, 0)) for k in EXCEPTION_KINDS)
    return render(request, "console/reconciliations.html", {"rows": rows, "older": older})


@console_view("post")
def run_upload(request):
    accounts = console_selectors.open_accounts()
    if request.method != "POST":
        form = StatementUploadForm(accounts=accounts, initial={"form_key": new_form_key("rec")})
        return render(request, "console/reconciliation_upload.html", {"form": form})
    form = StatementUploadForm(request.POST, request.FILES, accounts=accounts)
    if not form.is_valid():
        return render(request, "console/reconciliation_upload.html", {"form": form}, status=400)
    d = form.cleaned_data
    actor = actor_for(request)
    upload = d["file"]
    account = form.accounts[d["account"]]

    def work() -> dict:
        # The same import service as POST /v1/reconciliations: whole-file
        # validation first, then the run, its stored file and the queued task.
        outcome = reconciliation_import(
            actor=actor, account=account, format=d["format"], fileobj=upload, file_name=upload.name or "",
            date_window_days=d["date_window_days"], amount_basis=d["amount_basis"] or "net")
        run = outcome.run
        message = (f"This file was already imported for {account.code}: showing run {run.pk}." if outcome.duplicate
                   else f"Statement {upload.name} accepted: {run.lines_total} lines; matching has started.")
        return {"redirect": reverse("console:reconciliation", kwargs={"run_id": run.pk}), "message": message}

    try:
        out = form_submission_run(
            actor=actor, key=d["form_key"], action="reconciliation.import",
            payload={"account": account.code, "format": d["format"], "file": upload.name, "size": upload.size,
                     "window": d["date_window_days"], "basis": d["amount_basis"]},
            work=work)
    except errors.ZentraError as exc:
        data = request.POST.copy()
        if isinstance(exc, errors.IdempotencyKeyReused):
            data["form_key"] = new_form_key("rec")
        again = StatementUploadForm(data, accounts=accounts)
        return render(request, "console/reconciliation_upload.html",
                      {"form": again, "problem": friendly(exc), "problem_code": exc.code,
                       "problem_line": exc.extra.get("line"), "problem_column": exc.extra.get("column")},
                      status=exc.status)
    return done(request, out.result, replayed=out.replayed)


@console_view("view")
def run_detail(request, run_id: str):
    run = selectors.run_get(run_id)
    run.format_label = FORMAT_LABELS.get(run.format, run.format)
    kind = request.GET.get("kind") or ""
    if kind not in ItemKind.values:
        kind = ""
    show = request.GET.get("show", "open")
    qs = selectors.item_list(run=run, kind=kind or None)
    if show == "open":
        qs = qs.filter(status=ItemStatus.OPEN)
    elif kind == "":
        qs = qs.exclude(kind=ItemKind.MATCHED, status=ItemStatus.MATCHED)
    after = int_param(request.GET.get("after"))
    if after:
        qs = qs.filter(id__gt=after)
    items = list(qs.order_by("id")[: ITEMS_PAGE + 1])
    more = items[ITEMS_PAGE - 1].id if len(items) > ITEMS_PAGE else None
    breakdown = selectors.item_breakdown(run=run)
    running = run.status in (RunStatus.PENDING, RunStatus.PROCESSING)
    by_kind = {b["kind"]: b | {"label": KIND_LABELS[b["kind"]]} for b in breakdown}
    return render(request, "console/reconciliation_run.html", {
        "run": run, "items": items[:ITEMS_PAGE], "more": more, "kind": kind, "show": show,
        "breaks": [by_kind[k] for k in EXCEPTION_KINDS], "matched": by_kind[ItemKind.MATCHED],
        "open_total": sum(b["open"] for b in breakdown),
        "running": running, "refresh": REFRESH_SECONDS if running else None,
        "percent": int(100 * run.lines_processed / run.lines_total) if run.lines_total else 0,
        "rerun_key": new_form_key("rer"), "kinds": [(k, KIND_LABELS[k]) for k in EXCEPTION_KINDS + [ItemKind.MATCHED]],
    })


@console_view("view")
def item_detail(request, run_id: str, item_id: str):
    run = selectors.run_get(run_id)
    item_pk = int_param(item_id)
    if item_pk is None:
        raise reconciliation_errors.ReconciliationItemNotFound(f"No item {item_id} in reconciliation {run.pk}.")
    item = selectors.item_get(run=run, item_id=item_pk)
    accounts = [a for a in console_selectors.open_accounts()
                if a.currency == run.account.currency and a.pk != run.account_id]
    approvals = list(ApprovalRequest.objects.filter(kind=ApprovalKind.RECON_ADJUSTMENT,
                                                    payload__reconciliation__item=item.pk).order_by("-id"))
    pending = next((a for a in approvals if a.status == "pending"), None)
    is_open = item.status == ItemStatus.OPEN and run.status == RunStatus.COMPLETED
    return render(request, "console/reconciliation_item.html", {
        "run": run, "item": item, "approvals": approvals, "pending": pending,
        "can_match": is_open and item.line_no is not None and item.entry_id is None and pending is None,
        "can_adjust": is_open and pending is None and item.kind != ItemKind.CURRENCY_DRIFT
        and (item.line_no is None or item.statement_currency == run.account.currency),
        "can_explain": is_open and pending is None,
        "candidates": selectors.match_candidates(run=run) if is_open and item.entry_id is None else [],
        "match_form": ItemMatchForm(initial={"form_key": new_form_key("rmt")}),
        "adjust_form": ItemAdjustForm(accounts=accounts, initial={"form_key": new_form_key("rad")}),
        "explain_form": ItemExplainForm(initial={"form_key": new_form_key("rex")}),
    })


def _item_page(run_id, item_id) -> str:
    return reverse("console:reconciliation_item", kwargs={"run_id": run_id, "item_id": item_id})


@console_view("post")
def item_match(request, run_id: str, item_id: str):
    if request.method != "POST":
        return use_the_form(request, "its page")
    form = ItemMatchForm(request.POST)
    if not form.is_valid():
        return form_invalid(request, form)
    run, item_pk, actor = selectors.run_get(run_id), int_param(item_id), actor_for(request)
    d = form.cleaned_data

    def work() -> dict:
        out = reconciliation_item_match(actor=actor, run_id=run.pk, item_id=item_pk or 0, entry_ref=d["entry"])
        state = ("matched" if out.item.status == ItemStatus.MATCHED
                 else f"paired, now {KIND_LABELS[out.item.kind].lower()} (difference "
                    f"{major(out.item.difference or 0, run.account.currency)} {run.account.currency})")
        return {"redirect": _item_page(run.pk, item_pk), "message": f"Line {out.item.line_no} {state} with "
                                                                  f"entry {out.entry.posting_id}."}

    out = form_submission_run(actor=actor, key=d["form_key"], action="reconciliation_item.match",
                              payload={"run": run.pk, "item": item_pk, "entry": d["entry"]}, work=work)
    return done(request, out.result, replayed=out.replayed)


@console_view("post")
def item_adjust(request, run_id: str, item_id: str):
    """Asks for the adjusting entry; a different person approves it on the
    Approvals page, which posts it through reconciliation_item_resolve."""
    if request.method != "POST":
        return use_the_form(request, "its page")
    run = selectors.run_get(run_id)
    accounts = [a for a in console_selectors.open_accounts() if a.pk != run.account_id]
    form = ItemAdjustForm(request.POST, accounts=accounts)
    if not form.is_valid():
        return form_invalid(request, form)
    d = form.cleaned_data
    sub = reconciliation_adjustment_request(
        actor=actor_for(request), run_id=run.pk, item_id=int_param(item_id) or 0,
        counter_account=form.accounts[d["counter_account"]], note=d["note"], idempotency_key=d["form_key"])
    a = sub.approval
    text = (f"Adjustment of {major(a.amount_minor, a.currency)} {a.currency} requested as {a.public_id}; "
            "it posts when a different person with the approve permission approves it.")
    return done(request, {"redirect": reverse("console:approval", kwargs={"public_id": a.public_id}),
                          "message": text}, replayed=sub.replayed)


@console_view("post")
def item_explain(request, run_id: str, item_id: str):
    if request.method != "POST":
        return use_the_form(request, "its page")
    form = ItemExplainForm(request.POST)
    if not form.is_valid():
        return form_invalid(request, form)
    run, item_pk, actor = selectors.run_get(run_id), int_param(item_id), actor_for(request)
    d = form.cleaned_data

    def work() -> dict:
        reconciliation_item_resolve(actor=actor, tenant=request.tenant.slug, run_id=run.pk, item_id=item_pk or 0,
                                    action=EXPLAIN, note=d["note"])
        return {"redirect": _item_page(run.pk, item_pk), "message": "Explained. No money moved."}

    out = form_submission_run(actor=actor, key=d["form_key"], action="reconciliation_item.explain",
                              payload={"run": run.pk, "item": item_pk, "note": d["note"]}, work=work)
    return done(request, out.result, replayed=out.replayed)


@console_view("post")
def run_rerun(request, run_id: str):
    if request.method != "POST":
        return use_the_form(request, "its page")
    form = KeyedForm(request.POST)
    if not form.is_valid():
        return form_invalid(request, form)
    run, actor = selectors.run_get(run_id), actor_for(request)

    def work() -> dict:
        new = reconciliation_rerun(actor=actor, run=run)
        return {"redirect": reverse("console:reconciliation", kwargs={"run_id": new.pk}),
                "message": f"Matching run {run.pk}'s statement again as run {new.pk}."}

    out = form_submission_run(actor=actor, key=form.cleaned_data["form_key"], action="reconciliation.rerun",
                              payload={"run": run.pk}, work=work)
    return done(request, out.result, replayed=out.replayed)
