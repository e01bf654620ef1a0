"""Sign-ins, sign-outs and failed sign-ins (console and admin) as audit
events. Wired to Django's auth signals in audit.apps, so every door that
authenticates a person through django.contrib.auth is covered."""
from __future__ import annotations

from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name

from core.actors import Actor
from audit.services.audit import audit_record

ACTIONS = {"login": "auth.login", "logout": "auth.logout", "login_failed": "auth.login_failed"}


def _surface(request) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "console" if path.startswith("/console/") else "other"


def session_event_record(*, event: str, request, user=None, username: str = "") -> None:
    """One audit row for a sign-in event. The public schema (platform staff)
    has no audit table: there the event is only logged by the caller."""
    if connection.schema_name == get_public_schema_name():
        return
    ip = (request.META.get("REMOTE_ADDR") or None) if request is not None else None
    ua = (request.META.get("HTTP_USER_AGENT") or "")[:300] if request is not None else ""
    if user is not None:
        name = user.get_username()
        actor = Actor(kind="user", ref=f"user:{user.pk}:{name}", label=name, ip=ip, user_agent=ua)
        target = str(user.pk)
    else:
        # A failed attempt names the username typed, not a user: it may not exist.
        name = (username or "")[:150]
        actor = Actor(kind="anonymous", ref=f"login:{name}", label=name, ip=ip, user_agent=ua)
        target = name[:100]
    with transaction.atomic():
        audit_record(actor=actor, action=ACTIONS[event], target_type="user", target_id=target,
                     metadata={"surface": _surface(request), "username": name})
