from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_exists

from tenants import errors
from core import errors as core_errors
from tenants.models import SCOPES, Domain, Tenant
from tenants.services.api_keys import IssuedKey, api_key_create
from tenants.services.template import template_clone, template_ensure

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
RESERVED_SLUGS = {"public", "www", "admin", "api", "platform", "template"}


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: Tenant
    domain: Domain
    api_key: IssuedKey | None

    def as_dict(self) -> dict:
        return {
            "tenant": self.tenant.slug,
            "schema": self.tenant.schema_name,
            "domain": self.domain.domain,
            "api_key": self.api_key.plaintext if self.api_key else None,
        }


def schema_for_slug(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def tenant_create(
    *, slug: str, domain: str, name: str | None = None, with_api_key: bool = False,
    created_by: str = "system",
) -> ProvisionedTenant:
    """Create a tenant, its domain, its schema (cloned from the template) and,
    optionally, an all-scopes API key -- all in one transaction, so a failure
    leaves neither rows nor a schema behind."""
    slug = (slug or "").strip().lower()
    domain = (domain or "").strip().lower()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise core_errors.ValidationFailed(
            "A tenant slug is 3-40 characters: lowercase letters, digits and '-', starting with a letter.",
            field="slug",
        )
    if not DOMAIN_RE.match(domain):
        raise core_errors.ValidationFailed("The domain is not a valid hostname.", field="domain")
    if Tenant.objects.filter(slug=slug).exists():
        raise errors.TenantExists(f"A tenant with slug '{slug}' already exists.")
    if Domain.objects.filter(domain=domain).exists():
        raise errors.DomainExists(f"The domain '{domain}' is already assigned to a tenant.")

    template_ensure()
    schema = schema_for_slug(slug)
    if schema_exists(schema, case_sensitive=False):
        # A schema nobody owns (say, left by hand): never clone over it.
        raise errors.TenantExists(f"The schema '{schema}' already exists.")
    try:
        with transaction.atomic():
            tenant = Tenant(slug=slug, name=name or slug, schema_name=schema)
            tenant.save()
            dom = Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
            # DDL is transactional in PostgreSQL: the cloned schema disappears
            # with the rows if anything below fails. The app role cannot
            # create schemas; template_clone has the owner's function do it
            # (docs/operations.md, Database roles).
            template_clone(schema=schema)
            key = api_key_create(tenant=tenant, name="initial", scopes=list(SCOPES), created_by=created_by) if with_api_key else None
    except IntegrityError as exc:
        # Lost a race with a concurrent create of the same slug or domain.
        if "domain" in str(exc):
            raise errors.DomainExists(f"The domain '{domain}' is already assigned to a tenant.") from exc
        raise errors.TenantExists(f"A tenant with slug '{slug}' already exists.") from exc
    finally:
        connection.set_schema_to_public()
    return ProvisionedTenant(tenant=tenant, domain=dom, api_key=key)
