from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from console import selectors
from console.auth import console_view
from console.forms import EntryFilterForm, ManualEntryForm, ReverseForm
from console.messages import amount, friendly, problem_sentence
from console.presenters import entry_flow_svg, movement_svg
from console.templatetags.console import new_form_key
from core import errors
from ledger import selectors as ledger_selectors
from ledger.services.approvals import manual_entry_submit, reversal_submit
from ledger.posting.rules import LineSpec

from core.actors import actor_for
from .common import export_url, int_param, use_the_form


@console_view("view")
def entry_list(request):
    form = EntryFilterForm(request.GET or None)
    f = form.cleaned_data if form.is_valid() else {}
    account = selectors.account_by_code(f["account"]) if f.get("account") else None
    qs = ledger_selectors.entry_list(
        account=account, created_after=f.get("start"), created_before=f.get("end"),
        effective_after=f.get("effective_start"), effective_before=f.get("effective_end"),
        external_reference=f.get("external_reference") or None, idempotency_key=f.get("idempotency_key") or None,
        actor=f.get("actor") or None, status=f.get("status") or None,
        amount_min=f.get("amount_min"), amount_max=f.get("amount_max"),
    )
    rows, older = selectors.keyset(qs, before=int_param(request.GET.get("before")))
    link = export_url("ledger_entries", back=request.get_full_path(), account=f.get("account"),
                      created_after=f.get("start"), created_before=f.get("end"),
                      external_reference=f.get("external_reference"), idempotency_key=f.get("idempotency_key"))
    return render(request, "console/entries.html", {
        "form": form, "rows": selectors.entry_rows(rows), "older": older,
        "export_url": link if request.user.can("export") else None,
    })


def _evidence_page(request, entry, *, reverse_form: ReverseForm | None = None, problem: str = "", code: str = "",
                   evidence: str | None = None, status: int = 200):
    ev = selectors.evidence_for_entry(entry)
    rev = selectors.reversal_info(entry)
    if reverse_form is None:
        reverse_form = ReverseForm(currency=rev["currency"], remaining_minor=rev["remaining_minor"],
                                   initial={"form_key": new_form_key("rev")})
    return render(request, "console/evidence.html", {
        "ev": ev, "entry": entry,
        "flow": entry_flow_svg(ev.lines, label=entry.posting_id[:12] + "…"),
        "movement": movement_svg(ev.movement, current=entry),
        "rev": rev, "reverse_form": reverse_form, "problem": problem, "problem_code": code, "evidence": evidence,
    }, status=status)


@console_view("view")
def entry_detail(request, ref: str):
    return _evidence_page(request, ledger_selectors.entry_get(ref))


@console_view("post")
def entry_reverse_view(request, ref: str):
    """Reverse an entry (all that remains, or an amount of it) from its
    evidence page. The form's key is the reversal's idempotency key; above
    an approval threshold the reversal waits for a second person."""
    entry = ledger_selectors.entry_get(ref)
    if request.method != "POST":
        return use_the_form(request, "the entry's evidence page (Corrections)")
    rev = selectors.reversal_info(entry)
    form = ReverseForm(request.POST, currency=rev["currency"], remaining_minor=rev["remaining_minor"])
    if not form.is_valid():
        return _evidence_page(request, entry, reverse_form=form, code="validation_error", status=400,
                              problem="The reversal was not sent; nothing was changed.")
    d = form.cleaned_data

    def again(message: str, *, status: int, code: str, fresh_key: bool, evidence: str | None = None):
        data = form.data.copy()
        if fresh_key:
            data["form_key"] = new_form_key("rev")
        fresh = selectors.reversal_info(entry)
        back = ReverseForm(data, currency=fresh["currency"], remaining_minor=fresh["remaining_minor"])
        back.is_valid()
        return _evidence_page(request, entry, reverse_form=back, problem=message, code=code, evidence=evidence,
                              status=status)

    try:
        result = reversal_submit(
            actor=actor_for(request), tenant=request.tenant.slug, entry_id=entry.id, idempotency_key=d["form_key"],
            amount_minor=d["amount"], description=d["description"],
        )
    except errors.IdempotencyKeyReused as exc:
        return again(friendly(exc), status=exc.status, code=exc.code, fresh_key=True)
    except errors.ZentraError as exc:
        return again(friendly(exc), status=exc.status, code=exc.code, fresh_key=False)
    if result.pending_approval:
        approval = result.approval
        if result.approval_replayed:
            messages.info(request, "This form was already submitted; it is the same approval request.")
        else:
            t = approval.threshold
            messages.warning(request, f"Above the approval threshold ({t['policy']} v{t['version']}: "
                                      f"{t['amount_minor']} > {t['threshold_minor']} {t['currency']} minor units). "
                                      "The reversal waits for a second person with the approve permission.")
        return redirect("console:approval", public_id=approval.public_id)
    outcome = result.outcome
    if outcome.is_problem:
        evidence = reverse("console:evidence") + "?" + urlencode({"key": d["form_key"]})
        return again(outcome.body.get("detail", "Rejected."), status=outcome.status, code=outcome.body.get("code", ""),
                     fresh_key=True, evidence=evidence)
    if outcome.replayed:
        messages.info(request, "This form was already submitted, so nothing was reversed twice. "
                               "Here is the reversal.")
    else:
        messages.success(request, f"Reversed: posted {outcome.body['posting_id']}.")
    return HttpResponseRedirect(reverse("console:entry", kwargs={"ref": outcome.body["posting_id"]}))


@console_view("view")
def evidence_by_key(request):
    """A request that may never have become an entry (rejected by a policy,
    or waiting for a checker), found by its idempotency key."""
    key = request.GET.get("key", "")
    ev = selectors.evidence_for_key(key)
    if ev.entry is not None:
        return redirect("console:entry", ref=ev.entry.posting_id)
    return render(request, "console/evidence.html", {"ev": ev, "entry": None, "flow": None, "movement": None})


@console_view("post")
def entry_new(request):
    accounts = selectors.open_accounts()
    if request.method != "POST":
        form = ManualEntryForm(accounts=accounts, initial={"idempotency_key": new_form_key("con")})
        return render(request, "console/entry_new.html", {"form": form})
    form = ManualEntryForm(request.POST, accounts=accounts)
    if not form.is_valid():
        return render(request, "console/entry_new.html", {"form": form}, status=400)
    d = form.cleaned_data
    lines = [LineSpec(account=d["debit"], side="debit", amount_minor=d["amount_minor"], currency=d["currency"]),
             LineSpec(account=d["credit"], side="credit", amount_minor=d["amount_minor"], currency=d["currency"])]
    try:
        result = manual_entry_submit(
            actor=actor_for(request), tenant=request.tenant.slug, idempotency_key=d["idempotency_key"], lines=lines,
            description=d["description"], external_reference=d["external_reference"], source_event=d["source_event"],
        )
    except errors.IdempotencyKeyReused as exc:
        return _form_again(request, form, friendly(exc), status=exc.status, fresh_key=True)
    except errors.ZentraError as exc:
        # Validation errors are not remembered under the key: fix and resend.
        return _form_again(request, form, friendly(exc), status=exc.status, fresh_key=False)

    if result.pending_approval:
        approval = result.approval
        if result.approval_replayed:
            messages.info(request, "This form was already submitted; it is the same approval request.")
        else:
            t = approval.threshold
            messages.warning(request, f"Above the approval threshold ({t['policy']} v{t['version']}: "
                                      f"{amount(t['amount_minor'], t['currency'])} > "
                                      f"{amount(t['threshold_minor'], t['currency'])}). "
                                      "It waits for a second person with the approve permission.")
        return redirect("console:approval", public_id=approval.public_id)
    outcome = result.outcome
    if outcome.is_problem:
        # A policy rejection is remembered under this key; a new attempt needs a new form.
        evidence = reverse("console:evidence") + "?" + urlencode({"key": d["idempotency_key"]})
        return _form_again(request, form, problem_sentence(outcome.body), status=outcome.status,
                           fresh_key=True, evidence=evidence, code=outcome.body.get("code", ""))
    if outcome.replayed:
        messages.info(request, "This form was already submitted, so nothing was posted twice. "
                               "Here is the original entry.")
    else:
        messages.success(request, f"Posted {outcome.body['posting_id']}.")
    return HttpResponseRedirect(reverse("console:entry", kwargs={"ref": outcome.body["posting_id"]}))


def _form_again(request, form: ManualEntryForm, message: str, *, status: int, fresh_key: bool,
                evidence: str | None = None, code: str = ""):
    data = form.data.copy()
    if fresh_key:
        data["idempotency_key"] = new_form_key("con")
    again = ManualEntryForm(data, accounts=list(form.accounts.values()))
    again.is_valid()
    return render(request, "console/entry_new.html",
                  {"form": again, "problem": message, "problem_code": code, "evidence": evidence}, status=status)
