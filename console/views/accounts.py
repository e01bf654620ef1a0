from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from console import selectors
from console.auth import console_view
from console.charts import balance_chart
from console.forms import AccountFilterForm, RangeMixin
from console.panels import ACCOUNT_PANELS, panels_for
from ledger import selectors as ledger_selectors

from .common import export_url, int_param


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
    account = selectors.account_by_code(code)
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
        "export_url": export_url("ledger_lines", back=request.get_full_path(), account=account.code,
                                 posted_after=rng.get("start"), posted_before=rng.get("end"))
        if request.user.can("export") else None,
    })
