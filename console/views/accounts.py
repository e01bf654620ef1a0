from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse

from console import selectors
from console.auth import console_view
from console.charts import balance_chart
from console.forms import AccountFilterForm, AccountStatusForm, RangeMixin
from console.messages import friendly
from console.panels import ACCOUNT_PANELS, panels_for
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from ledger import selectors as ledger_selectors
from ledger.services.accounts import account_close, account_freeze, account_unfreeze

from core.actors import actor_for
from .common import done, export_url, int_param, use_the_form

STATUS_ACTIONS = {
    "freeze": (account_freeze, "account.freeze", "Frozen: postings to and from {code} are refused until it is unfrozen."),
    "unfreeze": (account_unfreeze, "account.unfreeze", "Unfrozen: {code} accepts postings again."),
    "close": (account_close, "account.close", "Closed: {code} accepts no postings, ever again."),
}


@console_view("view")
def account_list(request):
    form = AccountFilterForm(request.GET or None)
    f = form.cleaned_data if form.is_valid() else {}
    qs = ledger_selectors.account_list(code=f.get("code"), currency=f.get("currency"), status=f.get("status"))
    if f.get("kind"):
        qs = qs.filter(kind=f["kind"])
    page = Paginator(qs.order_by("currency", "code"), 50).get_page(request.GET.get("page"))
    return render(request, "console/accounts.html", {"form": form, "page": page})


@console_view("view")
def account_detail(request, code: str):
    return _account_page(request, selectors.account_by_code(code))


def _account_page(request, account, *, problem: str = "", problem_code: str = "", status: int = 200):
    form = RangeMixin(request.GET or None)
    rng = form.cleaned_data if form.is_valid() else {}
    lines = ledger_selectors.statement_lines(account=account, posted_after=rng.get("start"),
                                             posted_before=rng.get("end"))
    rows, older = selectors.keyset(lines, before=int_param(request.GET.get("before")))
    return render(request, "console/account_detail.html", {
        "account": account, "form": form, "rows": rows, "older": older,
        "chart": balance_chart(selectors.balance_series(account=account), currency=account.currency),
        "policies": ledger_selectors.account_policy_names(account),
        "panels": panels_for(ACCOUNT_PANELS, account),
        "status_key": new_form_key("acc"), "problem": problem, "problem_code": problem_code,
        "export_url": export_url("ledger_lines", back=request.get_full_path(), account=account.code,
                                 posted_after=rng.get("start"), posted_before=rng.get("end"))
        if request.user.can("export") else None,
    }, status=status)


@console_view("post")
def account_status(request, code: str):
    """Freeze, unfreeze or close the account through its service (audit row
    and event in the same transaction); the form key makes a double submit
    one change."""
    account = selectors.account_by_code(code)
    if request.method != "POST":
        return use_the_form(request, "the account's page")
    form = AccountStatusForm(request.POST)
    if not form.is_valid():
        return _account_page(request, account, problem="; ".join(e for errs in form.errors.values() for e in errs),
                             problem_code="validation_error", status=400)
    d = form.cleaned_data
    service, action, message = STATUS_ACTIONS[d["action"]]
    actor = actor_for(request)

    def work() -> dict:
        acc = service(actor=actor, account=account)
        return {"redirect": reverse("console:account", kwargs={"code": acc.code}),
                "message": message.format(code=acc.code), "status": acc.status}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action=action,
                                  payload={"account": account.code, "action": d["action"]}, work=work)
    except errors.ZentraError as exc:
        return _account_page(request, selectors.account_by_code(code), problem=friendly(exc), problem_code=exc.code,
                             status=exc.status)
    return done(request, out.result, replayed=out.replayed)
