"""Accounting periods, their sealed period-end snapshots, and the
maker-checker requests that reopen them (one set per tenant schema).

The database holds the rule that matters: an entry whose effective_at lies
before the end of the latest non-open period is refused by a trigger on
ledger_ledgerentry (closeout/migrations/0001_initial.py,
docs/ledger-invariants.md)."""
from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q


class PeriodLength(models.TextChoices):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class ClosedPeriodEntries(models.TextChoices):
    REFUSE = "refuse"  # 422 period_closed
    MOVE_TO_OPEN = "move_to_open"  # book at the start of the first open period, keep the original date


class CloseoutSettings(models.Model):
    """One row per tenant (id 1): how periods are cut and what happens to an
    entry dated inside a closed one."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    period_length = models.CharField(max_length=8, choices=PeriodLength.choices, default=PeriodLength.MONTH)
    closed_period_entries = models.CharField(max_length=16, choices=ClosedPeriodEntries.choices,
                                             default=ClosedPeriodEntries.REFUSE)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="closeout_settings_singleton")]


class PeriodStatus(models.TextChoices):
    OPEN = "open"
    CLOSING = "closing"  # entries refused; balances being reviewed and snapshotted
    CLOSED = "closed"  # snapshot sealed; reopening needs a second person


def new_period_id() -> str:
    return f"per_{uuid.uuid4().hex}"


class AccountingPeriod(models.Model):
    """[start_at, end_at) in UTC. Periods never overlap (exclusion
    constraint); they are stored when first named (lazily, from the tenant's
    period length) or created explicitly with custom bounds."""

    public_id = models.CharField(max_length=40, unique=True, default=new_period_id)
    name = models.CharField(max_length=40, unique=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    closing_at = models.DateTimeField(null=True, blank=True)
    closing_by = models.CharField(max_length=200, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=200, blank=True, default="")
    reopen_count = models.PositiveIntegerField(default=0)
    # The sealed snapshot of the current close; cleared when reopened (the
    # old snapshot stays, sealed, as history).
    snapshot = models.ForeignKey("PeriodSnapshot", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(start_at__lt=F("end_at")), name="period_start_before_end"),
            models.CheckConstraint(condition=Q(status="closed", snapshot__isnull=False)
                                   | (~Q(status="closed") & Q(snapshot__isnull=True)),
                                   name="period_snapshot_iff_closed"),
        ]
        indexes = [
            # The entry trigger's one probe: the end of the latest non-open period.
            models.Index(fields=["end_at"], name="period_closed_end_idx", condition=~Q(status="open")),
        ]
        ordering = ["start_at"]

    def __str__(self) -> str:
        return self.name


class PeriodSnapshot(models.Model):
    """Period-end balances of every account, taken at close and sealed into
    the tenant's hash chain (record type `period_snapshot`). Append-only."""

    period = models.ForeignKey(AccountingPeriod, on_delete=models.PROTECT, related_name="snapshots")
    period_name = models.CharField(max_length=40)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200)
    account_count = models.PositiveIntegerField()
    # {currency: {debits, credits, opening_net_debit, closing_net_debit, ties_out}}
    totals = models.JSONField(default=dict)
    # How the opening balances were found: "previous_snapshot" or "current_balance".
    basis = models.CharField(max_length=20)


class PeriodBalance(models.Model):
    """One account's line in a snapshot; balances in the account's
    normal-side terms (like Account.posted_balance)."""

    snapshot = models.ForeignKey(PeriodSnapshot, on_delete=models.PROTECT, related_name="balances")
    account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    account_code = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    normal_side = models.CharField(max_length=6)
    opening_minor = models.BigIntegerField()
    debits_minor = models.BigIntegerField()
    credits_minor = models.BigIntegerField()
    closing_minor = models.BigIntegerField()
    lines_count = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "account"], name="period_balance_once")]


class ReopenStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def new_reopen_id() -> str:
    return f"rop_{uuid.uuid4().hex}"


class PeriodReopenRequest(models.Model):
    """Maker-checker for reopening a closed period: a different person with
    the approve capability decides (the database refuses a self-decision)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_reopen_id)
    period = models.ForeignKey(AccountingPeriod, on_delete=models.PROTECT, related_name="reopen_requests")
    status = models.CharField(max_length=10, choices=ReopenStatus.choices, default=ReopenStatus.PENDING)
    reason = models.CharField(max_length=500)
    requested_by = models.CharField(max_length=200)
    requested_by_label = models.CharField(max_length=150, blank=True, default="")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.CharField(max_length=200, blank=True, default="")
    decided_by_label = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="reopen_not_self_decided"),
            models.CheckConstraint(
                condition=(Q(status="pending", decided_at__isnull=True, decided_by="")
                           | (~Q(status="pending") & Q(decided_at__isnull=False) & ~Q(decided_by=""))),
                name="reopen_decided_iff_not_pending"),
            # One open question per period at a time.
            models.UniqueConstraint(fields=["period"], condition=Q(status="pending"), name="reopen_one_pending"),
        ]
