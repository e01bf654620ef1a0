from __future__ import annotations


from django.contrib import messages
from django.shortcuts import redirect

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
