from __future__ import annotations


import datetime as dt

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from console.auth import error_page
from core.ids import int_from_text


def done(request, result: dict, *, replayed: bool):
    """Show a service outcome after a redirect (post/redirect/get), so a
    browser refresh re-reads the page instead of re-posting the form.

    result["level"] is "success" (default), "warning" or "error": an action
    that ran but whose outcome is a refusal (an approval the boundary then
    rejected, say) is never shown in a success banner."""
    text = result.get("message", "Done.")
    level = result.get("level", "success")
    if replayed:
        prefix = "This form was already submitted; showing the original result. "
        (messages.error if level == "error" else messages.info)(request, prefix + text)
    elif level == "error":
        messages.error(request, text)
    elif level == "warning":
        messages.warning(request, text)
    else:
        messages.success(request, text)
    return redirect(result.get("redirect") or "console:overview")


def int_param(raw) -> int | None:
    return int_from_text(raw)


def use_the_form(request, where: str):
    """A GET on an action's URL: say where its form is, change nothing."""
    return error_page(request, status=405, title="Use the form", code="method_not_allowed",
                      message=f"This action is taken with the form on {where}. Nothing was changed.")


def form_invalid(request, form):
    return error_page(request, status=400, title="The form is not valid", code="validation_error",
                      message="; ".join(e for errs in form.errors.values() for e in errs) + " Nothing was changed.")


def export_url(kind: str, *, back: str = "", **filters) -> str:
    """The link a list page shows as "Export CSV": the generic export view
    with the list's filters under the export kind's names (empty ones left
    out; instants as ISO 8601)."""
    params = {"kind": kind}
    for name, value in filters.items():
        if value in (None, ""):
            continue
        params[name] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    if back:
        params["back"] = back
    return reverse("console:export_new") + "?" + urlencode(params)
