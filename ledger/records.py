"""The ledger's registrations with the audit app: every entry is sealed into
the tenant's hash chain, and ledger lines are exportable as CSV."""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers

from audit.chain import canonical_time, register_sealable
from audit.exports import ExportKind, register_export_kind
from audit.filters import FilterSerializer
from ledger.models import Account, Hold, HoldStatus, LedgerEntry, LedgerLine
from ledger.selectors import entry_list
from ledger.selectors import hold_list

ENTRY_FIELDS = (
    "posting_id", "kind", "idempotency_key", "request_hash", "external_reference", "source_event", "description",
    "metadata", "actor_kind", "actor_ref", "correlation_id", "policy_decisions", "reversal_of_id", "line_count",
)


def entry_canonical(entry: LedgerEntry) -> dict:
    """Everything an entry asserts, lines included: a changed byte anywhere in
    the entry or its lines breaks its link."""
    content = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    content["effective_at"] = canonical_time(entry.effective_at)
    content["created_at"] = canonical_time(entry.created_at)
    content["lines"] = [
        {"id": ln.id, "account_id": ln.account_id, "side": ln.side, "amount_minor": ln.amount_minor,
         "currency": ln.currency, "balance_after": ln.balance_after,
         "posted_at": canonical_time(ln.posted_at) if ln.posted_at else None}
        for ln in sorted(entry.lines.all(), key=lambda ln: ln.id)
    ]
    return content


class LedgerLineFilters(FilterSerializer):
    posted_after = serializers.DateTimeField(required=False, help_text="posted_at >= this instant")
    posted_before = serializers.DateTimeField(required=False, help_text="posted_at < this instant")
    account = serializers.CharField(required=False, max_length=64, help_text="Account code")
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    ranges = (("posted_after", "posted_before"),)


LINE_COLUMNS = ("line_id", "entry_id", "posting_id", "posted_at", "effective_at", "account", "currency", "side",
                "amount_minor", "balance_after", "idempotency_key", "external_reference", "source_event", "actor")


def ledger_lines_for_export(filters: dict) -> QuerySet:
    qs = LedgerLine.objects.select_related("entry", "account").order_by("id")
    if filters.get("posted_after"):
        qs = qs.filter(posted_at__gte=filters["posted_after"])
    if filters.get("posted_before"):
        qs = qs.filter(posted_at__lt=filters["posted_before"])
    if filters.get("account"):
        qs = qs.filter(account__code=filters["account"])
    if filters.get("currency"):
        qs = qs.filter(currency=filters["currency"])
    return qs


def ledger_line_row(ln: LedgerLine) -> tuple:
    e = ln.entry
    return (ln.id, e.id, e.posting_id, canonical_time(ln.posted_at), canonical_time(e.effective_at), ln.account.code,
            ln.currency, ln.side, ln.amount_minor, ln.balance_after, e.idempotency_key, e.external_reference,
            e.source_event, e.actor_ref)


class LedgerEntryFilters(FilterSerializer):
    """The console's entry list filters, by the same names."""
    account = serializers.CharField(required=False, max_length=64, help_text="Entries with a line on this account")
    created_after = serializers.DateTimeField(required=False, help_text="created_at >= this instant")
    created_before = serializers.DateTimeField(required=False, help_text="created_at < this instant")
    external_reference = serializers.CharField(required=False, max_length=255)
    idempotency_key = serializers.CharField(required=False, max_length=255)
    ranges = (("created_after", "created_before"),)


ENTRY_COLUMNS = ("entry_id", "posting_id", "kind", "created_at", "effective_at", "idempotency_key",
                 "external_reference", "source_event", "description", "actor", "correlation_id", "line_count",
                 "reversal_of")


def ledger_entries_for_export(filters: dict) -> QuerySet:
    account = None
    if filters.get("account"):
        account = Account.objects.filter(code=filters["account"]).first()
        if account is None:
            return LedgerEntry.objects.none()
    return entry_list(account=account, created_after=filters.get("created_after"),
                      created_before=filters.get("created_before"),
                      external_reference=filters.get("external_reference"),
                      idempotency_key=filters.get("idempotency_key")).order_by("id")


def ledger_entry_row(e: LedgerEntry) -> tuple:
    return (e.id, e.posting_id, e.kind, canonical_time(e.created_at), canonical_time(e.effective_at),
            e.idempotency_key, e.external_reference, e.source_event, e.description, e.actor_ref, e.correlation_id,
            e.line_count, e.reversal_of_id)


class HoldFilters(FilterSerializer):
    account = serializers.CharField(required=False, max_length=64, help_text="The held account's code")
    status = serializers.ChoiceField(required=False, choices=HoldStatus.choices)
    external_reference = serializers.CharField(required=False, max_length=255)
    created_after = serializers.DateTimeField(required=False, help_text="created_at >= this instant")
    created_before = serializers.DateTimeField(required=False, help_text="created_at < this instant")
    ranges = (("created_after", "created_before"),)


HOLD_COLUMNS = ("hold_id", "account", "destination", "currency", "amount_minor", "captured_minor", "released_minor",
                "status", "created_at", "expires_at", "closed_at", "external_reference", "description", "actor",
                "idempotency_key")


def holds_for_export(filters: dict) -> QuerySet:
    account = None
    if filters.get("account"):
        account = Account.objects.filter(code=filters["account"]).first()
        if account is None:
            return Hold.objects.none()
    qs = hold_list(account=account, status=filters.get("status"), external_reference=filters.get("external_reference"))
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    return qs.order_by("id")


def hold_row(h: Hold) -> tuple:
    return (h.hold_id, h.account.code, h.destination.code if h.destination_id else "", h.currency, h.amount_minor,
            h.captured_minor, h.released_minor, h.status, canonical_time(h.created_at),
            canonical_time(h.expires_at) if h.expires_at else None,
            canonical_time(h.closed_at) if h.closed_at else None, h.external_reference, h.description, h.actor_ref,
            h.idempotency_key)


def register() -> None:
    register_sealable("ledger_entry", LedgerEntry, entry_canonical,
                      queryset=lambda: LedgerEntry.objects.prefetch_related("lines"))
    register_export_kind(ExportKind(
        name="ledger_lines", columns=LINE_COLUMNS, filters=LedgerLineFilters, queryset=ledger_lines_for_export,
        row=ledger_line_row, record_type="ledger_entry", record_field="entry_id", scope="ledger:read",
    ))
    register_export_kind(ExportKind(
        name="ledger_entries", columns=ENTRY_COLUMNS, filters=LedgerEntryFilters, queryset=ledger_entries_for_export,
        row=ledger_entry_row, record_type="ledger_entry", scope="ledger:read",
    ))
    # Holds change state (captured, released, expired): not sealed, so pinned
    # by id with their state as of the export's first complete pass.
    register_export_kind(ExportKind(
        name="holds", columns=HOLD_COLUMNS, filters=HoldFilters, queryset=holds_for_export, row=hold_row,
        record_type=None, scope="ledger:read",
    ))
