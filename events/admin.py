from django.contrib import admin

from core.admin import TenantReadOnlyAdmin
from events.models import Event


@admin.register(Event)
class EventAdmin(TenantReadOnlyAdmin):
    list_display = ("public_id", "type", "actor_ref", "correlation_id", "created_at")
    list_filter = ("type", "created_at")
    search_fields = ("public_id", "type", "correlation_id", "actor_ref")
    date_hierarchy = "created_at"
    ordering = ("-id",)
