from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

SCOPES = ("ledger:read", "ledger:write", "webhooks:manage", "audit:read", "admin")


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    # Overrides of settings.ZENTRA_DEFAULT_LIMITS (requests_per_minute,
    # max_page_size, max_body_bytes, export_rows); read via tenant_limits_get.
    limits = models.JSONField(default=dict, blank=True)
    # Provisioning is explicit (tenants.services.tenants.tenant_create) so a
    # failure rolls the schema back with the rows.
    auto_create_schema = False
    auto_drop_schema = True

    def __str__(self) -> str:
        return self.slug


class Domain(DomainMixin):
    pass


class ApiKey(models.Model):
    """`zk_<prefix>_<secret>`; only HMAC-SHA256(pepper, secret) is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=32))
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scopes__contained_by=list(SCOPES)), name="api_key_scopes_known"
            ),
        ]

    def __str__(self) -> str:
        return f"zk_{self.prefix}_… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes
