from django.contrib import admin, messages

from core.admin import PublicHostOnly
from tenants.services.api_keys import api_key_revoke
from core.actors import actor_for

from .models import ApiKey, Domain, Tenant
from .services.tenants import tenant_status_set


@admin.register(Tenant)
class TenantAdmin(PublicHostOnly, admin.ModelAdmin):
    """Read-only but for the audited status actions: a tenant's rows change
    through tenants.services only, each with an event in the tenant's log."""

    list_display = ("slug", "name", "schema_name", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("slug", "name")
    readonly_fields = [f.name for f in Tenant._meta.fields]
    actions = ["suspend_tenants", "reactivate_tenants"]

    def has_add_permission(self, request):
        return False  # provisioning goes through tenant_create (template clone), not a bare row

    def has_delete_permission(self, request, obj=None):
        return False

    def has_status_permission(self, request):
        return self.has_view_permission(request) and request.user.is_active and request.user.is_staff

    def _status_set(self, request, queryset, status: str) -> None:
        actor = actor_for(request)
        tenants = list(queryset)
        for tenant in tenants:
            tenant_status_set(actor=actor, tenant=tenant, status=status, reason="support admin action")
        self.message_user(request, f"{len(tenants)} tenant(s) {status}; each change is in its tenant's audit log.",
                          messages.SUCCESS)

    @admin.action(description="Suspend selected tenants (audited in each tenant)", permissions=["status"])
    def suspend_tenants(self, request, queryset):
        self._status_set(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Reactivate selected tenants (audited in each tenant)", permissions=["status"])
    def reactivate_tenants(self, request, queryset):
        self._status_set(request, queryset, Tenant.Status.ACTIVE)


@admin.register(Domain)
class DomainAdmin(PublicHostOnly, admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")

    # Routing changes go through tenants.services (tenant_domain_add), audited.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(PublicHostOnly, admin.ModelAdmin):
    list_display = ("prefix", "name", "tenant", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "tenant__slug")
    readonly_fields = [f.name for f in ApiKey._meta.fields if f.name != "secret_hash"]
    exclude = ("secret_hash",)
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a key is revoked (kept as evidence), never deleted

    def has_revoke_permission(self, request):
        return self.has_view_permission(request) and request.user.is_active and request.user.is_staff

    @admin.action(description="Revoke selected API keys (audited in each key's tenant)", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        actor = actor_for(request)
        revoked = 0
        for key in queryset:
            if key.revoked_at is None:
                api_key_revoke(actor=actor, api_key=key, metadata={"via": "admin", "reason": "support admin action"})
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s); each revocation is in its tenant's audit log.",
                          messages.SUCCESS)
