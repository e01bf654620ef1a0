"""Django's sign-in signals, as audit events (console and admin alike)."""
from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.services.sessions import session_event_record


def _logged_in(sender, request, user, **kwargs) -> None:
    session_event_record(event="login", request=request, user=user)


def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        session_event_record(event="logout", request=request, user=user)


def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    session_event_record(event="login_failed", request=request, username=credentials.get("username", ""))


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="audit.session.login", weak=False)
    user_logged_out.connect(_logged_out, dispatch_uid="audit.session.logout", weak=False)
    user_login_failed.connect(_login_failed, dispatch_uid="audit.session.login_failed", weak=False)
