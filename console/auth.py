from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def console_view(capability: str = "view"):
    """Every console view names the capability it needs; the user must belong
    to the tenant whose hostname served the request (sessions live in the
    tenant's schema, so another tenant's session simply is not found)."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(request, *args, **kwargs):
            if getattr(request, "tenant", None) is None:
                raise PermissionDenied("The console is served on a tenant's hostname.")
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.can(capability):
                raise PermissionDenied(f"Your role ({request.user.role}) cannot do this ({capability}).")
            return fn(request, *args, **kwargs)

        # Read by tests/security/test_matrix.py to check every console URL
        # against every role without a hand-kept list.
        wrapper.console_capability = capability
        return wrapper

    return decorator
