from django.contrib import admin, messages

from core.admin import PublicHostOnly
from tenants.services.api_keys import api_key_support_revoke
from core.actors import actor_for

from .models import ApiKey, Domain, Tenant


@admin.register(Tenant)
class TenantAdmin(PublicHostOnly, admin.ModelAdmin):
    list_display = ("slug", "name", "schema_name", "status", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("schema_name", "created_at")

    def has_add_permission(self, request):
        return False  # provisioning goes through tenant_create (template clone), not a bare row


@admin.register(Domain)
class DomainAdmin(PublicHostOnly, admin.ModelAdmin):
    list_display = ("domain", "tenant", "is_primary")


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
                api_key_support_revoke(actor=actor, api_key_id=key.pk, reason="support admin action")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s); each revocation is in its tenant's audit log.",
                          messages.SUCCESS)
