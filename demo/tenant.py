"""The demo tenant `make run` prints: operators for every role and a fresh API key."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_context

from core.actors import Actor
from providers.models import Provider
from providers.services.providers import provider_create
from tenants.models import SCOPES, ApiKey, Domain, Tenant
from tenants.services.api_keys import IssuedKey, api_key_create, api_key_revoke
from tenants.services.tenants import tenant_create, tenant_domain_add
from users.models import Role
from users.services.users import user_ensure

DEMO_SLUG = "demo"
DEMO_KEY_NAME = "demo"
# Known on purpose: they are printed by `make run` for a local demo. The admin
# also gets Django admin access (support's surface).
DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("operator", Role.OPERATOR),
    ("approver", Role.APPROVER),
    ("viewer", Role.VIEWER),
    ("compliance", Role.COMPLIANCE),
    ("admin", Role.ADMIN),
)


def demo_password(username: str) -> str:
    return f"{username}-demo-pass"


@dataclass(frozen=True)
class DemoTenant:
    tenant: Tenant
    domain: str
    api_key: IssuedKey
    users: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self, *, port: int) -> dict:
        host = "127.0.0.1" if settings.BASE_DOMAIN == "localhost" else settings.BASE_DOMAIN
        return {
            "tenant": self.tenant.slug,
            "schema": self.tenant.schema_name,
            "console_url": f"http://{self.domain}:{port}/console/",
            "api_base": f"http://{host}:{port}/v1/",
            "api_docs": f"http://{host}:{port}/v1/docs",
            "api_key": self.api_key.plaintext,
            # Stripe callbacks go to the tenant's hostname; the secret is never printed.
            "inbound_url": f"http://{self.domain}:{port}/v1/inbound/stripe",
            "users": self.users,
        }


def demo_ensure() -> DemoTenant:
    """Idempotent: reuse the demo tenant and its operators (passwords reset to
    the printed ones), and issue a new demo API key, revoking the previous one
    -- a key is shown once, so a rerun cannot print the old one."""
    actor = Actor.system("zentra_demo")
    domain = f"{DEMO_SLUG}.{settings.BASE_DOMAIN}"
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is None:
        tenant = tenant_create(actor=actor, slug=DEMO_SLUG, domain=domain, name="Demo Fintech").tenant
    elif not Domain.objects.filter(domain=domain).exists():
        tenant_domain_add(actor=actor, tenant=tenant, domain=domain)

    users = []
    with schema_context(tenant.schema_name):
        for username, role in DEMO_USERS:
            password = demo_password(username)
            is_admin = role == Role.ADMIN
            user_ensure(
                actor=actor, username=username, role=role, password=password, email=f"{username}@demo.invalid",
                is_staff=is_admin, is_superuser=is_admin,
            )
            users.append({"username": username, "password": password, "role": str(role)})
        if not Provider.objects.filter(slug="stripe").exists():
            # A generated secret nobody sees: POST /v1/providers/{id}/rotate-secret
            # (or the Stripe dashboard's secret) makes it usable.
            provider_create(actor=actor, slug="stripe", kind="stripe", name="Stripe (demo)")

    with transaction.atomic():
        for old in ApiKey.objects.filter(tenant=tenant, name=DEMO_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(actor=actor, api_key=old)
        key = api_key_create(actor=actor, tenant=tenant, name=DEMO_KEY_NAME, scopes=list(SCOPES))
    return DemoTenant(tenant=tenant, domain=domain, api_key=key, users=users)
