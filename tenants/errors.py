"""Tenants' and API keys' typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


class TenantExists(ZentraError):
    status, code, title = 409, "tenant_exists", "A tenant with this slug already exists"


class DomainExists(ZentraError):
    status, code, title = 409, "domain_exists", "This domain is already assigned to a tenant"
