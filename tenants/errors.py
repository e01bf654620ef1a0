"""Tenants' and API keys' typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


class RevokedApiKey(ZentraError):
    status, code, title = 401, "api_key_revoked", "The API key has been revoked"


class InsufficientScope(ZentraError):
    status, code, title = 403, "insufficient_scope", "The API key lacks the scope this operation needs"


class TenantExists(ZentraError):
    status, code, title = 409, "tenant_exists", "A tenant with this slug already exists"


class DomainExists(ZentraError):
    status, code, title = 409, "domain_exists", "This domain is already assigned to a tenant"
