"""Refusals outside a console view (CSRF, Django's own 403/404) rendered as
console pages for people, and as problem+json for the API."""
from __future__ import annotations

from core import errors
from core import problems

from console.auth import error_page


def _is_api(request) -> bool:
    return request.path.startswith("/v1/")


def csrf_failure(request, reason: str = ""):
    if _is_api(request):
        return problems.problem_response(403, "csrf_failed", "CSRF verification failed.")
    return error_page(request, status=403, title="This form has expired or was not sent from the console",
                      message="The request was refused and nothing was changed. Reload the page and try again.",
                      code="csrf_failed")


def permission_denied(request, exception=None):
    if _is_api(request):
        return problems.zentra_problem(errors.PermissionDenied())
    return error_page(request, status=403, title="Not allowed", code="permission_denied",
                      message="You are not allowed to do this. Nothing was changed.")


def page_not_found(request, exception=None):
    if request.path.startswith("/console/"):
        return error_page(request, status=404, title="Not found", code="not_found",
                          message="There is no such page in this tenant's console.")
    return problems.handler404(request, exception)
