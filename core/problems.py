"""One exception handler maps every error to RFC 9457 application/problem+json."""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf

from core import errors
from core.context import correlation_id_var
from core.db_errors import database_error

log = logging.getLogger("zentra.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem_response(status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> JsonResponse:
    body = {
        "type": f"https://docs.zentra.dev/errors/{code}",
        "title": title or detail,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    cid = correlation_id_var.get()
    if cid != "-":
        body.setdefault("correlation_id", cid)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            for v in detail:
                out.append({"field": prefix or "body", "message": str(v), "code": getattr(v, "code", "invalid")})
        else:
            for i, v in enumerate(detail):
                out.extend(_flatten(v, f"{prefix}[{i}]"))
    else:
        out.append({"field": prefix or "body", "message": str(detail), "code": getattr(detail, "code", "invalid")})
    return out


def zentra_problem(exc: errors.ZentraError) -> JsonResponse:
    body = exc.to_problem()
    extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "code", "detail"}}
    resp = problem_response(exc.status, exc.code, exc.detail, title=exc.title, **extra)
    if isinstance(exc, errors.RateLimited) and "retry_after" in exc.extra:
        resp["Retry-After"] = str(exc.extra["retry_after"])
    return resp


def exception_handler(exc: Exception, context: dict) -> JsonResponse | None:
    if isinstance(exc, errors.ZentraError):
        resp = zentra_problem(exc)
    elif isinstance(exc, drf.ParseError):
        resp = problem_response(400, "malformed_json", str(exc.detail), title="The request body could not be parsed")
    elif isinstance(exc, drf.UnsupportedMediaType):
        resp = problem_response(415, "unsupported_media_type", str(exc.detail), title="Unsupported media type")
    elif isinstance(exc, drf.NotAuthenticated):
        resp = zentra_problem(errors.NotAuthenticated())
    elif isinstance(exc, drf.AuthenticationFailed):
        resp = zentra_problem(errors.InvalidApiKey(str(exc.detail)))
    elif isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        resp = zentra_problem(errors.PermissionDenied())
    elif isinstance(exc, (drf.NotFound, Http404)):
        resp = zentra_problem(errors.NotFound())
    elif isinstance(exc, drf.MethodNotAllowed):
        resp = problem_response(405, "method_not_allowed", str(exc.detail), title="Method not allowed")
    elif isinstance(exc, drf.NotAcceptable):
        resp = problem_response(406, "not_acceptable", str(exc.detail), title="Not acceptable")
    elif isinstance(exc, drf.Throttled):
        resp = problem_response(429, "rate_limited", str(exc.detail), title="Too many requests", retryable=True)
        if exc.wait:
            resp["Retry-After"] = str(int(exc.wait) + 1)
    elif isinstance(exc, drf.ValidationError):
        resp = problem_response(
            400, "validation_error", "The request is not valid.", title="The request is not valid",
            errors=_flatten(exc.detail),
        )
    elif isinstance(exc, drf.APIException):
        resp = problem_response(exc.status_code, getattr(exc, "default_code", "error"), str(exc.detail))
    elif (mapped := database_error(exc)) is not None:
        resp = zentra_problem(mapped)  # a refusal PostgreSQL raised (core.db_errors)
    else:
        return None  # Let Django's 500 handler (handler500 below) answer and log it.
    if resp.status_code == 401:
        resp["WWW-Authenticate"] = 'Bearer realm="zentra"'
    return resp


def handler404(request, exception=None):
    return problem_response(404, "not_found", f"No route for {request.path}.", title="Not found")


def handler500(request):
    return problem_response(500, "internal_error", "An internal error occurred; it has been logged.", title="Internal error")


@csrf_exempt  # API clients send no CSRF cookie: an unknown path must be a 404 problem, not an HTML 403
def api_not_found(request, *args, **kwargs):
    return handler404(request)
