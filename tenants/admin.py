from django.contrib import admin

from .models import ApiKey, Domain, Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "schema_name", "status", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("schema_name", "created_at")

    def has_add_permission(self, request):
        return False  # provisioning goes through tenant_create (template clone), not a bare row


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "tenant", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant",)
    readonly_fields = [f.name for f in ApiKey._meta.fields]
    exclude = ("secret_hash",)

    def has_add_permission(self, request):
        return False
