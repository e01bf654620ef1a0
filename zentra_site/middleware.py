from __future__ import annotations

from django.conf import settings

from core.context import clean_correlation_id, correlation_id_var, tenant_var
from core.problems import problem_response


class CorrelationIdMiddleware:
    """Accept `X-Correlation-Id` (or mint one), echo it on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cid = clean_correlation_id(request.headers.get("X-Correlation-Id"))
        request.correlation_id = cid
        # Set, not reset afterwards: Django logs the response (django.request)
        # after the middleware returns, and that line must carry the id too.
        # Each request sets both values afresh.
        correlation_id_var.set(cid)
        tenant_var.set("-")
        response = self.get_response(request)
        response["X-Correlation-Id"] = cid
        return response


INBOUND_PREFIX = "/v1/inbound/"


class BodySizeLimitMiddleware:
    """Refuse oversized bodies before anything parses them.

    DRF reads the WSGI stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    alone would not protect JSON endpoints.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            # PostgreSQL text cannot hold NUL: a lookup by such a path
            # parameter would be a DataError (500), not a 404.
            return problem_response(400, "validation_error", "The path may not contain NUL characters.")
        limit = getattr(request, "body_limit", None) or settings.MAX_BODY_BYTES
        large = getattr(settings, "LARGE_UPLOAD_PATHS", {})
        if isinstance(large, dict):
            # Exact paths, so a JSON endpoint under an upload path keeps the small limit.
            limit = large.get(request.path.rstrip("/"), limit)
        elif request.path.startswith(tuple(large)):
            limit = float("inf")
        if request.path.startswith(INBOUND_PREFIX):
            # Provider callbacks: small events, from the open internet.
            limit = min(limit, settings.INBOUND_MAX_BODY_BYTES)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_response(400, "invalid_content_length", "Invalid Content-Length header.")
        if length > limit:
            return problem_response(
                413, "payload_too_large", f"Request body is {length} bytes; the limit is {limit} bytes."
            )
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """`Content-Security-Policy` on console and admin pages (Django 5.2 has no
    CSP of its own). Only those paths: the API answers JSON, and /v1/docs
    (Redoc) needs inline script that the console never does."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY
        self.prefixes = tuple(settings.CSP_PATH_PREFIXES)

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.prefixes):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
