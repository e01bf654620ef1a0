"""Reconciliation runs against provider statements (one set per tenant schema).

A run owns its uploaded file (StatementChunk rows) and, once matched, one
ReconciliationItem per statement line plus one per ledger entry the provider
never reported. Items are the work list operators resolve.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class StatementFormat(models.TextChoices):
    GENERIC_CSV = "generic_csv"
    STRIPE_BALANCE_CSV = "stripe_balance_csv"


class AmountBasis(models.TextChoices):
    NET = "net"  # what moved the provider balance (gross - fee)
    GROSS = "gross"


class RunStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ItemKind(models.TextChoices):
    MATCHED = "matched"
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_PROVIDER = "missing_at_provider"
    AMOUNT_DRIFT = "amount_drift"
    CURRENCY_DRIFT = "currency_drift"
    DUPLICATE_IN_STATEMENT = "duplicate_in_statement"


EXCEPTION_KINDS = [k for k in ItemKind.values if k != ItemKind.MATCHED]


class ItemStatus(models.TextChoices):
    MATCHED = "matched"  # nothing to do
    OPEN = "open"
    RESOLVED = "resolved"  # an adjusting entry was posted
    EXPLAINED = "explained"  # an operator's note, no money moved


class ReconciliationRun(models.Model):
    account = models.ForeignKey("ledger.Account", on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=24, choices=StatementFormat.choices)
    amount_basis = models.CharField(max_length=8, choices=AmountBasis.choices, blank=True, default="")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.PENDING)
    file_name = models.CharField(max_length=255, blank=True, default="")
    file_sha256 = models.CharField(max_length=64)
    file_size = models.BigIntegerField()
    # A re-run reads the file stored under the run that was imported.
    source_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reruns")
    date_window_days = models.PositiveSmallIntegerField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    lines_total = models.PositiveIntegerField()
    lines_processed = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    totals = models.JSONField(default=list, blank=True)
    error = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    actor_ref = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Re-importing the same file answers with this run; the evidence of each
    # duplicate upload is kept here, like the posting boundary's replay count.
    reimport_count = models.PositiveIntegerField(default=0)
    last_reimported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "file_sha256"], condition=Q(rerun_of__isnull=True),
                                    name="recon_run_one_import_per_file"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="recon_run_status_idx")]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} ({self.status})"


class StatementChunk(models.Model):
    """The uploaded file, in order, in pieces of formats.READ_BYTES: web and
    workers share nothing but the database, and reading stays flat in memory."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="+", db_index=False)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="recon_chunk_run_seq_unique")]


class ReconciliationItem(models.Model):
    # Items are written 100k at a time: every index and foreign-key check
    # counts. The composite indexes below serve `run`; ledger entries are
    # append-only (a trigger refuses DELETE), so a reference to one cannot
    # dangle and the database need not lock 100k entry rows to prove it.
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="items", db_index=False)
    kind = models.CharField(max_length=24, choices=ItemKind.choices)
    status = models.CharField(max_length=12, choices=ItemStatus.choices)
    match_rule = models.CharField(max_length=16, blank=True, default="")  # reference | amount_window
    # The statement side (empty for missing_at_provider).
    line_no = models.PositiveIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=255, blank=True, default="")
    statement_amount = models.BigIntegerField(null=True, blank=True)
    statement_currency = models.CharField(max_length=3, blank=True, default="")
    booked_at = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=1000, blank=True, default="")
    statement_details = models.JSONField(null=True, blank=True)
    duplicate_of_line = models.PositiveIntegerField(null=True, blank=True)
    # The ledger side (empty for missing_in_ledger and duplicates): an entry
    # touching the run's account, its amount there in normal-side terms with
    # earlier reconciliation adjustments folded in.
    entry = models.ForeignKey("ledger.LedgerEntry", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
                              db_index=False, db_constraint=False)
    ledger_amount = models.BigIntegerField(null=True, blank=True)
    ledger_currency = models.CharField(max_length=3, blank=True, default="")
    effective_at = models.DateTimeField(null=True, blank=True)
    difference = models.BigIntegerField(null=True, blank=True)  # statement - ledger
    # Resolution.
    note = models.TextField(blank=True, default="")
    adjusting_entry = models.ForeignKey("ledger.LedgerEntry", null=True, blank=True, on_delete=models.DO_NOTHING,
                                        related_name="+", db_index=False, db_constraint=False)
    adjust_attempts = models.PositiveSmallIntegerField(default=0)  # policy rejections so far
    resolved_by = models.CharField(max_length=200, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    carried_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     db_index=False)

    class Meta:
        indexes = [
            models.Index(fields=["run", "kind", "id"], name="recon_item_run_kind_idx"),
            models.Index(fields=["run", "status", "id"], name="recon_item_run_status_idx"),
            models.Index(fields=["adjusting_entry"], name="recon_item_adjusting_idx",
                         condition=Q(adjusting_entry__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} {self.kind}"
