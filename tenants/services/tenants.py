from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_context, schema_exists

from tenants import errors
from core import errors as core_errors
from core.actors import Actor
from audit.services.audit import audit_record
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
    *, actor: Actor, slug: str, domain: str, name: str | None = None, with_api_key: bool = False,
) -> ProvisionedTenant:
    """Create a tenant, its domain, its schema (cloned from the template) and,
    optionally, an all-scopes API key -- all in one transaction, so a failure
    leaves neither rows nor a schema behind. `tenant.created` (and the key's
    `api_key.created`) is the first event in the new tenant's log."""
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
            with schema_context(schema):
                audit_record(actor=actor, action="tenant.created", target_type="tenant", target_id=slug,
                             after={"slug": slug, "name": tenant.name, "schema": schema, "domain": domain,
                                    "status": tenant.status})
            key = None
            if with_api_key:
                key = api_key_create(actor=actor, tenant=tenant, name="initial", scopes=list(SCOPES))
    except IntegrityError as exc:
        # Lost a race with a concurrent create of the same slug or domain.
        if "domain" in str(exc):
            raise errors.DomainExists(f"The domain '{domain}' is already assigned to a tenant.") from exc
        raise errors.TenantExists(f"A tenant with slug '{slug}' already exists.") from exc
    finally:
        connection.set_schema_to_public()
    return ProvisionedTenant(tenant=tenant, domain=dom, api_key=key)


def tenant_status_set(*, actor: Actor, tenant: Tenant, status: str, reason: str = "") -> Tenant:
    """Suspend or reactivate a tenant. A suspended tenant's API keys and
    console are refused (tenants.services.api_keys, tenants.middleware).
    `tenant.suspended` / `tenant.reactivated` goes into the tenant's log; its
    own transaction (durable), so the change is committed when this returns."""
    if status not in Tenant.Status.values:
        raise core_errors.ValidationFailed(f"Unknown status '{status}'; allowed: {list(Tenant.Status.values)}.",
                                      field="status")
    with transaction.atomic(durable=True):
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.status != status:
            Tenant.objects.filter(pk=locked.pk).update(status=status)
            action = "tenant.suspended" if status == Tenant.Status.SUSPENDED else "tenant.reactivated"
            with schema_context(locked.schema_name):
                audit_record(actor=actor, action=action, target_type="tenant", target_id=locked.slug,
                             before={"status": locked.status}, after={"status": status},
                             metadata={"reason": reason} if reason else None)
    tenant.status = status
    return tenant


def tenant_domain_add(*, actor: Actor, tenant: Tenant, domain: str) -> Domain:
    """Route one more hostname to `tenant` (not its primary one), with
    `tenant.domain_added` in the tenant's log."""
    domain = (domain or "").strip().lower()
    if not DOMAIN_RE.match(domain):
        raise core_errors.ValidationFailed("The domain is not a valid hostname.", field="domain")
    try:
        with transaction.atomic():
            dom = Domain.objects.create(domain=domain, tenant=tenant, is_primary=False)
            with schema_context(tenant.schema_name):
                audit_record(actor=actor, action="tenant.domain_added", target_type="tenant",
                             target_id=tenant.slug, after={"domain": domain, "is_primary": False})
    except IntegrityError as exc:
        raise errors.DomainExists(f"The domain '{domain}' is already assigned to a tenant.") from exc
    return dom
