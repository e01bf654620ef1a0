"""Closeout's registrations with the audit app: every period snapshot is
sealed into the tenant's hash chain, and a sealed snapshot is exportable as
a trial-balance CSV (with the usual manifest)."""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import serializers

from audit.chain import canonical_time, register_sealable
from audit.exports import ExportKind, register_export_kind
from audit.filters import FilterSerializer
from closeout.models import PeriodBalance, PeriodSnapshot
from closeout.selectors import period_snapshot_for_export

BALANCE_FIELDS = ("account_id", "account_code", "currency", "normal_side", "opening_minor", "debits_minor",
                  "credits_minor", "closing_minor", "lines_count")


def snapshot_canonical(snap: PeriodSnapshot) -> dict:
    """The period-end balances as sealed: a changed number in any balance row
    (or a row added or removed) breaks the snapshot's link."""
    return {
        "period_id": snap.period_id, "period_name": snap.period_name,
        "start_at": canonical_time(snap.start_at), "end_at": canonical_time(snap.end_at),
        "created_at": canonical_time(snap.created_at), "created_by": snap.created_by,
        "account_count": snap.account_count, "totals": snap.totals, "basis": snap.basis,
        "balances": [[getattr(b, f) for f in BALANCE_FIELDS]
                     for b in sorted(snap.balances.all(), key=lambda b: b.account_id)],
    }


class TrialBalanceFilters(FilterSerializer):
    period = serializers.CharField(max_length=40, help_text="A closed period's name (e.g. 2026-01) or public id")
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    snapshot = serializers.IntegerField(required=False, min_value=1,
                                        help_text="Set at creation: the sealed snapshot in force then")

    def validate(self, data):
        # Pinned at creation, so a later reopen and re-close (a new snapshot)
        # never changes what an existing export contains.
        if data.get("snapshot") is None:
            data["snapshot"] = period_snapshot_for_export(data["period"]).id
        return data


TB_COLUMNS = ("period", "start_at", "end_at", "account", "currency", "normal_side", "opening_minor", "debits_minor",
              "credits_minor", "closing_minor", "lines_count", "snapshot_id")


def trial_balance_for_export(filters: dict) -> QuerySet:
    qs = PeriodBalance.objects.select_related("snapshot").order_by("id")
    if not filters:
        return qs
    qs = qs.filter(snapshot_id=filters["snapshot"], snapshot__period_name=filters["period"])
    if filters.get("currency"):
        qs = qs.filter(currency=filters["currency"].upper())
    return qs


def trial_balance_row(b: PeriodBalance) -> tuple:
    s = b.snapshot
    return (s.period_name, canonical_time(s.start_at), canonical_time(s.end_at), b.account_code, b.currency,
            b.normal_side, b.opening_minor, b.debits_minor, b.credits_minor, b.closing_minor, b.lines_count, s.id)


def register() -> None:
    register_sealable("period_snapshot", PeriodSnapshot, snapshot_canonical,
                      queryset=lambda: PeriodSnapshot.objects.prefetch_related("balances"))
    register_export_kind(ExportKind(
        name="trial_balance", columns=TB_COLUMNS, filters=TrialBalanceFilters, queryset=trial_balance_for_export,
        row=trial_balance_row, record_type="period_snapshot", record_field="snapshot_id", scope="ledger:read",
    ))
