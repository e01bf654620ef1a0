from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from console import selectors
from console.auth import console_view, error_page
from console.forms import PolicyCreateForm, PolicyReviseForm
from console.messages import friendly
from console.services.submissions import form_submission_run
from console.templatetags.console import new_form_key
from core import errors
from ledger.services.policies import policy_create, policy_revise

from core.actors import actor_for
from .common import done


@console_view("view")
def policy_list(request):
    return _page(request)


def _page(request, *, create_form=None, problem: str = "", status: int = 200):
    return render(request, "console/policies.html", {
        "histories": selectors.policy_histories(),
        "create_form": create_form or PolicyCreateForm(initial={"form_key": new_form_key("pol")}),
        "revise_key": new_form_key("pol"),
        "can_edit": request.user.can("policies"),
        "problem": problem,
    }, status=status)


@console_view("policies")
def policy_new(request):
    if request.method != "POST":
        return error_page(request, status=405, title="Use the form", code="method_not_allowed",
                          message="Policies are created with the form on the Policies page.")
    form = PolicyCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    d = form.cleaned_data
    actor = actor_for(request)

    def work() -> dict:
        p = policy_create(actor=actor, name=d["name"], kind=d["kind"], params=d["params"],
                          applies_to_all=d["applies_to_all"], description=d["description"])
        return {"redirect": reverse("console:policies") + f"#policy-{p.name}",
                "message": f"Policy {p.name} v{p.version} created."}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action="policy.create",
                                  payload={k: d[k] for k in ("name", "kind", "params", "applies_to_all", "description")},
                                  work=work)
    except errors.ZentraError as exc:
        return _page(request, create_form=form, problem=friendly(exc), status=exc.status)
    return done(request, out.result, replayed=out.replayed)


@console_view("policies")
def policy_revise_view(request, name: str):
    if request.method != "POST":
        return error_page(request, status=405, title="Use the form", code="method_not_allowed",
                          message="Policies are revised with the form on the Policies page.")
    current = selectors.policy_current(name)
    form = PolicyReviseForm(request.POST, kind=current.kind)
    if not form.is_valid():
        return _page(request, problem="; ".join(e for es in form.errors.values() for e in es),
                                       status=400)
    d = form.cleaned_data
    actor = actor_for(request)

    def work() -> dict:
        p = policy_revise(actor=actor, name=name, params=d["params"] or None, applies_to_all=d["applies_to_all"],
                          active=d["active"], description=d["description"])
        return {"redirect": reverse("console:policies") + f"#policy-{p.name}",
                "message": f"Policy {p.name} is now at v{p.version}."}

    try:
        out = form_submission_run(actor=actor, key=d["form_key"], action="policy.revise",
                                  payload={"name": name, "params": d["params"], "applies_to_all": d["applies_to_all"],
                                           "active": d["active"], "description": d["description"]}, work=work)
    except errors.ZentraError as exc:
        return _page(request, problem=friendly(exc), status=exc.status)
    return done(request, out.result, replayed=out.replayed)
