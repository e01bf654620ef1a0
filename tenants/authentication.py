from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from rest_framework.authentication import BaseAuthentication

from core import errors
from tenants.models import ApiKey
from tenants.services.api_keys import api_key_authenticate
from tenants.services.limits import rate_limit_consume
from core.limits import tenant_limits_get
from core.context import tenant_var


@dataclass
class ApiKeyActor:
    """request.user for API calls: the key is the actor."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True

    @property
    def actor_ref(self) -> str:
        return f"api_key:{self.api_key.prefix}"

    def __str__(self) -> str:
        return self.actor_ref


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer zk_…` — the key decides the tenant, and the
    connection switches to that tenant's schema for the rest of the request."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise errors.InvalidApiKey("Use 'Authorization: Bearer zk_…'.")
        connection.set_schema_to_public()
        key = api_key_authenticate(raw=raw.strip())
        # Limits are enforced here, not in a throttle class a view could
        # replace: every authenticated /v1 call passes through this method
        # before the view reads its body.
        limits = tenant_limits_get(tenant=key.tenant)
        request._request.zentra_limits = limits
        rate_limit_consume(bucket=f"key:{key.prefix}", limit=limits.requests_per_minute)
        length = _content_length(request)
        if length > limits.max_body_bytes:
            raise errors.PayloadTooLarge(
                f"Request body is {length} bytes; this tenant's limit is {limits.max_body_bytes} bytes.",
                limit=limits.max_body_bytes,
            )
        connection.set_tenant(key.tenant)
        request._request.tenant = key.tenant
        tenant_var.set(key.tenant.slug)
        return ApiKeyActor(api_key=key), key

    def authenticate_header(self, request):
        return 'Bearer realm="zentra"'


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # the body-size middleware already refused a malformed header
