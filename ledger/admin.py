from django.contrib import admin

from core.admin import ReadOnlyInline, TenantReadOnlyAdmin
from ledger.models import Account, ApprovalRequest, IdempotencyRecord, LedgerEntry, LedgerLine, Policy

# Display names only. Set here rather than in the models' Meta so the ledger
# core's models do not need a migration for a label.
LedgerEntry._meta.verbose_name_plural = "ledger entries"
Policy._meta.verbose_name_plural = "policies"


@admin.register(Account)
class AccountAdmin(TenantReadOnlyAdmin):
    list_display = ("code", "name", "currency", "kind", "normal_side", "status", "posted_balance", "pending_balance",
                    "available_balance", "lines_count")
    list_filter = ("currency", "kind", "status", "normal_side")
    search_fields = ("code", "name")
    ordering = ("code",)


class LineInline(ReadOnlyInline):
    model = LedgerLine
    fields = ("account", "side", "amount_minor", "currency", "balance_after", "posted_at")
    readonly_fields = fields


@admin.register(LedgerEntry)
class LedgerEntryAdmin(TenantReadOnlyAdmin):
    list_display = ("posting_id", "kind", "idempotency_key", "external_reference", "actor_ref", "correlation_id",
                    "created_at")
    list_filter = ("kind", "actor_kind", "created_at")
    search_fields = ("posting_id", "idempotency_key", "external_reference", "source_event", "correlation_id",
                     "actor_ref")
    date_hierarchy = "created_at"
    inlines = [LineInline]
    ordering = ("-id",)


@admin.register(LedgerLine)
class LedgerLineAdmin(TenantReadOnlyAdmin):
    list_display = ("id", "entry", "account", "side", "amount_minor", "currency", "balance_after", "posted_at")
    list_filter = ("side", "currency")
    search_fields = ("entry__posting_id", "account__code")
    list_select_related = ("entry", "account")
    ordering = ("-id",)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(TenantReadOnlyAdmin):
    list_display = ("key", "operation", "outcome", "response_status", "replay_count", "last_replayed_at", "actor_ref",
                    "created_at")
    list_filter = ("outcome", "operation", "response_status")
    search_fields = ("key", "actor_ref", "correlation_id")
    ordering = ("-id",)


@admin.register(Policy)
class PolicyAdmin(TenantReadOnlyAdmin):
    list_display = ("name", "version", "kind", "params", "applies_to_all", "active", "created_by", "created_at")
    list_filter = ("kind", "active", "applies_to_all")
    search_fields = ("name", "created_by")
    ordering = ("name", "-version")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(TenantReadOnlyAdmin):
    list_display = ("public_id", "kind", "status", "amount_minor", "currency", "requested_by", "decided_by",
                    "requested_at", "decided_at")
    list_filter = ("status", "kind", "currency")
    search_fields = ("public_id", "idempotency_key", "requested_by", "decided_by")
    ordering = ("-id",)
