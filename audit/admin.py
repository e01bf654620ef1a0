from django.contrib import admin

from audit.models import AuditEvent
from core.admin import TenantReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(TenantReadOnlyAdmin):
    list_display = ("occurred_at", "action", "actor_ref", "target_type", "target_id", "correlation_id", "ip")
    list_filter = ("action", "actor_kind", "target_type", "occurred_at")
    search_fields = ("action", "actor_ref", "target_id", "correlation_id")
    date_hierarchy = "occurred_at"
    ordering = ("-id",)
