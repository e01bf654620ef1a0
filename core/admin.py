"""Django admin for support escalation.

The admin is tenant-aware because the connection is: on a tenant's host it
reads that tenant's schema and shows the tenant's money and evidence; on the
platform host it shows tenants, domains and API keys. Money and evidence are
read-only (no add/change/delete, enforced here and by database triggers);
the only writes are safe actions that call a service and leave an audit
event. Staff users of the schema (is_staff) may view; see docs/console.md.
"""
from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group

admin.site.site_header = "Zentra support"
admin.site.site_title = "Zentra support"
admin.site.index_title = "Read-only ledger and evidence; safe actions only"


def on_tenant_host(request) -> bool:
    return getattr(request, "tenant", None) is not None


def is_support(request) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class TenantReadOnlyAdmin(admin.ModelAdmin):
    """A tenant-schema model: visible on a tenant's host only, never editable."""

    show_full_result_count = False  # no COUNT(*) over a large ledger on every page
    list_per_page = 50

    def has_module_permission(self, request):
        return on_tenant_host(request) and is_support(request)

    def has_view_permission(self, request, obj=None):
        return on_tenant_host(request) and is_support(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return on_tenant_host(request) and is_support(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PublicHostOnly:
    """Public-schema models (tenants, API keys): the platform host only, so a
    tenant's staff never see other tenants' rows."""

    def has_module_permission(self, request):
        return not on_tenant_host(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not on_tenant_host(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return not on_tenant_host(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return not on_tenant_host(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not on_tenant_host(request) and super().has_delete_permission(request, obj)


def _groups_on_the_platform_host_only() -> None:
    """Groups grant permissions; auth is a tenant app too, so each tenant
    schema has a group table, and Django registers GroupAdmin for every
    host. Platform staff manage groups on the platform host; on a tenant's
    host (where a tenant superuser signs in) they are not shown or editable."""

    class PlatformGroupAdmin(PublicHostOnly, GroupAdmin):
        pass

    if admin.site.is_registered(Group):
        admin.site.unregister(Group)
    admin.site.register(Group, PlatformGroupAdmin)


_groups_on_the_platform_host_only()
