from rest_framework.permissions import BasePermission

from core import errors as core_errors


class HasScope(BasePermission):
    """Each API view names the scope per method (`required_scopes`); a view
    that names none is closed, so forgetting is never an open door."""

    def has_permission(self, request, view) -> bool:
        if request.auth is None:
            raise core_errors.NotAuthenticated()
        if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
            # DRF checks permissions before it looks up the handler: let it
            # answer 405 instead of calling an unsupported method forbidden.
            return True
        scopes = getattr(view, "required_scopes", {})
        needed = scopes.get(request.method) or scopes.get("*")
        if needed is None and request.method in ("HEAD", "OPTIONS"):
            needed = scopes.get("GET")
        if needed is None:
            raise core_errors.PermissionDenied("This operation is not available to API keys.")
        if not request.auth.has_scope(needed):
            raise core_errors.InsufficientScope(f"This operation needs the '{needed}' scope.", required_scope=needed)
        return True
