from __future__ import annotations


from django.contrib import messages
from django.shortcuts import redirect

from console.auth import error_page
from core.ids import int_from_text


def done(request, result: dict, *, replayed: bool):
    """Show a service outcome after a redirect (post/redirect/get), so a
    browser refresh re-reads the page instead of re-posting the form."""
    text = result.get("message", "Done.")
    if replayed:
        messages.info(request, f"This form was already submitted; showing the original result. {text}")
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
