from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.shortcuts import redirect

from audit.actors import Actor
from console.auth import error_page
from zentra_site.ids import int_from_text


def actor_for(request) -> Actor:
    """The console user as the actor of a service call. On the public host
    the user is platform staff, a different population from any tenant's
    users, so the ref says so."""
    actor = Actor.from_request(request)
    if getattr(request, "tenant", None) is None and actor.kind == "user":
        user = request.user
        actor = replace(actor, kind="staff", ref=f"staff:{user.pk}:{user.get_username()}")
    return actor


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
