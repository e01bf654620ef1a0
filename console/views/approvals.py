from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from console import selectors
from console.auth import console_view, error_page
from console.forms import DecisionForm
from console.messages import friendly, problem_sentence
from console.presenters import payload_flow_svg
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from ledger.models import Account, ApprovalKind, ApprovalStatus, LedgerEntry
from ledger.services.approvals import approval_approve, approval_reject, person_of

from core.actors import actor_for
from .common import done, int_param


@console_view("view")
def approval_list(request):
    status = request.GET.get("status", ApprovalStatus.PENDING)
    if status not in ApprovalStatus.values + ["all"]:
        status = ApprovalStatus.PENDING
    rows, older = selectors.keyset(selectors.approval_list(status=None if status == "all" else status),
                                   before=int_param(request.GET.get("before")))
    return render(request, "console/approvals.html", {"rows": rows, "older": older, "status": status,
                                                      "statuses": ApprovalStatus.values + ["all"]})


@console_view("view")
def approval_detail(request, public_id: str):
    approval = selectors.approval_get(public_id)
    codes = [ln["account"] for ln in approval.payload.get("lines", [])]
    accounts = {a.code: a for a in Account.objects.filter(code__in=codes)}
    own = person_of(approval.requested_by) == person_of(actor_for(request).ref)
    reverses = (LedgerEntry.objects.filter(id=approval.payload.get("entry")).first()
                if approval.kind == ApprovalKind.REVERSAL else None)
    return render(request, "console/approval_detail.html", {
        "approval": approval, "accounts": accounts, "own": own, "reverses": reverses,
        "can_decide": request.user.can("approve") and not own and approval.status == ApprovalStatus.PENDING,
        "flow": payload_flow_svg(approval.payload, accounts, label="proposed"),
        "form_key": new_form_key("dec"),
    })


@console_view("approve")
def approval_decide(request, public_id: str):
    if request.method != "POST":
        return error_page(request, status=405, title="Use the form", code="method_not_allowed",
                          message="Approvals are decided with the buttons on the request's page.")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return error_page(request, status=400, title="The decision form is not valid", code="validation_error",
                          message="; ".join(e for errs in form.errors.values() for e in errs) + " Nothing was changed.")
    d = form.cleaned_data
    actor = actor_for(request)
    page = reverse("console:approval", kwargs={"public_id": public_id})

    def work() -> dict:
        if d["decision"] == "approve":
            decision = approval_approve(actor=actor, tenant=request.tenant.slug, public_id=public_id, note=d["note"])
            a = decision.approval
            if a.status == ApprovalStatus.POSTED:
                return {"redirect": reverse("console:entry", kwargs={"ref": a.entry.posting_id}),
                        "message": f"Approved; posted {a.entry.posting_id} as {actor.label}, "
                                   f"requested by {a.requested_by_label}."}
            return {"redirect": page, "level": "error",
                    "message": "Approved, but the posting boundary refused it, so nothing was posted: "
                               f"{problem_sentence(a.outcome or {})}"}
        approval_reject(actor=actor, public_id=public_id, note=d["note"])
        return {"redirect": page, "message": "Rejected. Nothing was posted."}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action=f"approval.{d['decision']}",
                                  payload={"approval": public_id, "decision": d["decision"], "note": d["note"]},
                                  work=work)
    except errors.ZentraError as exc:
        return error_page(request, status=exc.status, title=exc.title, message=friendly(exc), code=exc.code)
    return done(request, out.result, replayed=out.replayed)
