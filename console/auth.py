from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render

from core import errors

from .messages import friendly


def error_page(request, *, status: int, title: str, message: str, code: str = ""):
    """The console's own 4xx page: a refusal says what happened and where to
    go next, in the console's look, never a bare Django error."""
    return render(request, "console/error.html",
                  {"status": status, "title": title, "message": message, "code": code}, status=status)


def console_view(capability: str = "view"):
    """Every console view names the capability it needs; the user must belong
    to the tenant whose hostname served the request (sessions and users live
    in the tenant's schema, so another tenant's session simply is not found).

    Typed errors a view lets escape (an unknown id, say) become the styled
    error page with their status: nothing half-done, never a 500."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(request, *args, **kwargs):
            if getattr(request, "tenant", None) is None:
                if request.user.is_authenticated and request.user.is_staff and request.path == "/console/":
                    return redirect("console:platform")
                return error_page(request, status=404, title="No tenant here",
                                  message="The console is served on a tenant's hostname, e.g. acme.localhost.",
                                  code="tenant_required")
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.can(capability):
                return error_page(request, status=403, title="Not allowed",
                                  message=f"Your role ({request.user.role}) does not include “{capability}”. "
                                          "Nothing was changed. Ask a tenant admin if you need this.",
                                  code="permission_denied")
            try:
                return fn(request, *args, **kwargs)
            except errors.ZentraError as exc:
                return error_page(request, status=exc.status, title=exc.title, message=friendly(exc), code=exc.code)

        # Read by tests/security/test_matrix.py to check every console URL
        # against every role without a hand-kept list.
        wrapper.console_capability = capability
        return wrapper

    return decorator


def platform_view(fn):
    """Platform-staff pages: the public host only, staff of the public schema."""

    @wraps(fn)
    def wrapper(request, *args, **kwargs):
        if getattr(request, "tenant", None) is not None:
            return error_page(request, status=404, title="Not on a tenant host",
                              message="Platform pages are served on the platform host, not a tenant's.",
                              code="platform_only")
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            return error_page(request, status=403, title="Platform staff only",
                              message="This page is for Zentra platform staff. Nothing was changed.",
                              code="permission_denied")
        try:
            return fn(request, *args, **kwargs)
        except errors.ZentraError as exc:
            return error_page(request, status=exc.status, title=exc.title, message=friendly(exc), code=exc.code)

    wrapper.console_capability = "platform"  # type: ignore[attr-defined]
    return wrapper
