from __future__ import annotations

from django.db import connection
from django.http import Http404
from django.http.request import split_domain_port

from tenants.models import Domain, Tenant
from core.context import tenant_var

# Paths where the API key (not the hostname) decides the tenant.
KEY_ROUTED_PREFIXES = ("/v1/", "/healthz")


class TenantRoutingMiddleware:
    """API requests start in the public schema and are switched by the API key
    (tenants.authentication); everything else is routed by hostname: a tenant's
    domain selects its schema, any other host is the platform (public) site."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        connection.set_schema_to_public()
        request.tenant = None
        if not request.path.startswith(KEY_ROUTED_PREFIXES):
            host, _ = split_domain_port(request.get_host())
            domain = Domain.objects.select_related("tenant").filter(domain=host.lower()).first()
            if domain is not None:
                if domain.tenant.status != Tenant.Status.ACTIVE:
                    raise Http404("This tenant is suspended.")
                connection.set_tenant(domain.tenant)
                request.tenant = domain.tenant
                tenant_var.set(domain.tenant.slug)
        try:
            return self.get_response(request)
        finally:
            connection.set_schema_to_public()
