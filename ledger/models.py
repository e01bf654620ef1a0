"""Ledger tables (one set per tenant schema).

The database, not this file, keeps the ledger's promises: see
ledger/migrations/0002_invariants.py and docs/ledger-invariants.md.
"""
from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from core.ids import time_ordered_hex


class Side(models.TextChoices):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountKind(models.TextChoices):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"


class AccountStatus(models.TextChoices):
    OPEN = "open"
    FROZEN = "frozen"
    CLOSED = "closed"


class Account(models.Model):
    """Balances are kept in the account's normal-side terms: a debit to a
    debit-normal account raises `posted_balance`, a debit to a credit-normal
    account lowers it. Only the line trigger may change the balance columns."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    normal_side = models.CharField(max_length=6, choices=Side.choices)
    kind = models.CharField(max_length=10, choices=AccountKind.choices)
    status = models.CharField(max_length=6, choices=AccountStatus.choices, default=AccountStatus.OPEN)
    metadata = models.JSONField(default=dict, blank=True)
    posted_balance = models.BigIntegerField(default=0)
    pending_balance = models.BigIntegerField(default=0)  # reserved by active holds
    available_balance = models.GeneratedField(
        expression=F("posted_balance") - F("pending_balance"), output_field=models.BigIntegerField(), db_persist=True,
    )
    debits_total = models.BigIntegerField(default=0)
    credits_total = models.BigIntegerField(default=0)
    lines_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_iso"),
            models.CheckConstraint(condition=Q(pending_balance__gte=0), name="account_pending_nonnegative"),
            models.CheckConstraint(condition=Q(debits_total__gte=0) & Q(credits_total__gte=0), name="account_totals_nonnegative"),
        ]
        indexes = [models.Index(fields=["currency", "status"])]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class PolicyKind(models.TextChoices):
    NO_NEGATIVE_AVAILABLE = "no_negative_available"  # params: overdraft_limit_minor (default 0)
    MAX_AMOUNT = "max_amount"  # params: max_amount_minor, currency (optional)
    ALLOWED_CURRENCIES = "allowed_currencies"  # params: currencies
    APPROVAL_THRESHOLD = "approval_threshold"  # params: threshold_minor (console maker-checker)


class Policy(models.Model):
    """One version of a named rule. Editing a policy adds a version; the
    highest version of a name is the one in force."""

    name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=PolicyKind.choices)
    params = models.JSONField(default=dict)
    applies_to_all = models.BooleanField(default=False, help_text="Evaluated for every account of the tenant")
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="policy_name_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class AccountPolicy(models.Model):
    """Attaches a policy by name, so new versions apply without re-attaching."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="policy_links")
    policy_name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "policy_name"], name="account_policy_unique")]


class PolicyEpoch(models.Model):
    """Which state of the tenant's policies and attachments a reader saw.
    Triggers on Policy and AccountPolicy set `epoch` to a fresh value of a
    database-wide sequence on every change (never a value seen before, in
    any schema), so the posting path can cache the policies that apply to
    an account and have its one statement confirm, by comparing one row,
    that they still do (ledger.posting_cache)."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    epoch = models.BigIntegerField(default=0)


def new_posting_id() -> str:
    return f"pst_{time_ordered_hex()}"


class EntryKind(models.TextChoices):
    STANDARD = "standard"
    REVERSAL = "reversal"
    HOLD_CAPTURE = "hold_capture"
    ADJUSTMENT = "adjustment"


class LedgerEntry(models.Model):
    """A balanced journal transaction. Append-only: corrections are reversals."""

    posting_id = models.CharField(max_length=40, unique=True, default=new_posting_id)
    kind = models.CharField(max_length=16, choices=EntryKind.choices, default=EntryKind.STANDARD)
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64)
    # Indexed only where set (Meta): most postings carry no reference.
    external_reference = models.CharField(max_length=255, blank=True, default="")
    source_event = models.CharField(max_length=255, blank=True, default="")
    description = models.CharField(max_length=1000, blank=True, default="")
    effective_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    actor_kind = models.CharField(max_length=16)
    actor_ref = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=128, db_index=True)
    policy_decisions = models.JSONField(default=list, blank=True)
    # Indexed only where set (Meta): few entries are reversals.
    reversal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals",
                                    db_index=False)
    line_count = models.PositiveSmallIntegerField()

    class Meta:
        # Partial indexes: every index is written on every posting, and these
        # two columns are empty on nearly all of them.
        indexes = [
            models.Index(fields=["external_reference"], condition=~Q(external_reference=""), name="entry_extref_idx"),
            models.Index(fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="entry_reversal_of_idx"),
        ]

    def __str__(self) -> str:
        return self.posting_id


class LedgerLine(models.Model):
    """One debit or credit. `balance_after` is the account's posted balance
    right after this line (set by the database), so statements and
    balance-as-of read one row instead of summing history."""

    # No FOREIGN KEY constraints: the line trigger (zentra_line_apply) reads
    # both rows for every line anyway and refuses a line whose entry or
    # account does not exist, and neither can ever be deleted (triggers), so
    # the deferred FK checks were only cost (docs/ledger-invariants.md).
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lines", db_constraint=False)
    # No index of its own: line_account_id_idx (account, id) serves every lookup by account.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines", db_index=False,
                                db_constraint=False)
    side = models.CharField(max_length=6, choices=Side.choices)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    balance_after = models.BigIntegerField(null=True)
    posted_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="line_amount_positive"),
            models.CheckConstraint(condition=Q(side__in=["debit", "credit"]), name="line_side_valid"),
        ]
        indexes = [
            models.Index(fields=["account", "id"], name="line_account_id_idx"),
            models.Index(fields=["account", "posted_at", "id"], name="line_account_posted_idx"),
        ]


class IdempotencyRecord(models.Model):
    """The posting boundary. One row per key, forever (per tenant): a key is
    a promise about money, not a cache entry."""

    key = models.CharField(max_length=255, unique=True)
    operation = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    outcome = models.CharField(max_length=16, blank=True, default="")  # posted | rejected
    # No index: nothing looks a record up by its entry (the entry names its
    # key), and the completing UPDATE would write one more index entry. No
    # FOREIGN KEY either (ledger/0012, docs/ledger-invariants.md): the record
    # is written by the statement that writes its entry, entries are never
    # deleted, and the deferred check ran at commit under the account locks,
    # locking the entry row it had just inserted; ledger_check
    # (boundary_record_matches_entry) proves each record's entry exists and
    # carries its key.
    entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              db_index=False, db_constraint=False)
    actor_ref = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True)
    replay_count = models.PositiveIntegerField(default=0)
    last_replayed_at = models.DateTimeField(null=True)
    replays = models.JSONField(default=list, blank=True)  # last few replay decisions, for evidence

    def __str__(self) -> str:
        return self.key


class HoldStatus(models.TextChoices):
    ACTIVE = "active"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


HOLD_OPEN_STATUSES = (HoldStatus.ACTIVE, HoldStatus.PARTIALLY_CAPTURED)


def new_hold_id() -> str:
    return f"hld_{time_ordered_hex()}"


class Hold(models.Model):
    """Funds reserved on an account (two-phase posting). The remaining amount
    (amount - captured - released) is what the account's pending_balance
    holds for it; the hold trigger keeps pending_balance in step with these
    rows (ledger/migrations/0003_lifecycle.py)."""

    hold_id = models.CharField(max_length=40, unique=True, default=new_hold_id)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    destination = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    captured_minor = models.BigIntegerField(default=0)
    released_minor = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    external_reference = models.CharField(max_length=255, blank=True, default="", db_index=True)
    description = models.CharField(max_length=1000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    actor_kind = models.CharField(max_length=16)
    actor_ref = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=128, db_index=True)
    policy_decisions = models.JSONField(default=list, blank=True)
    # The latest capture entry: the trigger lets captured_minor grow only
    # together with a new hold_capture entry that moved exactly that much.
    last_entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(condition=Q(captured_minor__gte=0) & Q(released_minor__gte=0),
                                   name="hold_parts_nonnegative"),
            models.CheckConstraint(condition=Q(captured_minor__lte=F("amount_minor") - F("released_minor")),
                                   name="hold_parts_within_amount"),
            # Status follows the numbers: open while something remains, closed
            # (with closed_at) once captured + released = amount.
            models.CheckConstraint(
                condition=(
                    Q(status="active", captured_minor=0, released_minor=0, closed_at__isnull=True)
                    | Q(status="partially_captured", captured_minor__gt=0, released_minor=0, closed_at__isnull=True,
                        captured_minor__lt=F("amount_minor"))
                    | (Q(status__in=["captured", "released", "expired"], closed_at__isnull=False)
                       & Q(captured_minor=F("amount_minor") - F("released_minor")))
                ),
                name="hold_status_consistent",
            ),
            models.CheckConstraint(condition=~Q(destination=F("account")), name="hold_destination_differs"),
        ]
        indexes = [
            models.Index(fields=["account", "status"], name="hold_account_status_idx"),
            # The expiry sweep reads only open holds that can expire.
            models.Index(fields=["expires_at", "id"], name="hold_due_idx",
                         condition=Q(status__in=["active", "partially_captured"], expires_at__isnull=False)),
        ]

    @property
    def remaining_minor(self) -> int:
        return self.amount_minor - self.captured_minor - self.released_minor

    @property
    def is_open(self) -> bool:
        return self.status in HOLD_OPEN_STATUSES

    def __str__(self) -> str:
        return self.hold_id


class HoldMovementKind(models.TextChoices):
    CREATED = "created"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class HoldMovement(models.Model):
    """Pending-balance history, written only by the hold trigger: one row per
    change of a hold's remaining amount, with the account's pending balance
    right after it, so pending as of any time is one index probe (like
    LedgerLine.balance_after for posted). Append-only."""

    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="movements")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=HoldMovementKind.choices)
    amount_minor = models.BigIntegerField()
    pending_delta = models.BigIntegerField()
    pending_after = models.BigIntegerField()
    entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="holdmovement_amount_positive"),
            # One capture entry backs one capture, never two.
            models.UniqueConstraint(fields=["entry"], condition=Q(entry__isnull=False), name="holdmovement_entry_once"),
        ]
        indexes = [models.Index(fields=["account", "at", "id"], name="holdmovement_account_at_idx")]


class ApprovalKind(models.TextChoices):
    MANUAL_ENTRY = "manual_entry", "Manual entry"
    REVERSAL = "reversal", "Reversal"
    RECON_ADJUSTMENT = "recon_adjust", "Reconciliation adjustment"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    POSTED = "posted"  # approved, and the posting went through
    REJECTED = "rejected"  # a checker said no
    FAILED = "failed"  # approved, but the posting boundary refused it (e.g. a policy)


def new_approval_id() -> str:
    return f"apr_{time_ordered_hex()}"


class ApprovalRequest(models.Model):
    """Maker-checker: a person's money request above the approval threshold
    waits here until a *different* person with the approve capability decides.

    The idempotency key is the one the maker's form carried; the posting made
    on approval uses it, so the entry's evidence names the maker's key and a
    resubmitted form finds this request instead of asking twice. Decided rows
    are immutable (database trigger, migration 0004)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_approval_id)
    kind = models.CharField(max_length=16, choices=ApprovalKind.choices)
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_hash = models.CharField(max_length=64)
    # What will be executed on approval: for manual_entry the entry (lines,
    # description, references); for reversal the entry to reverse.
    payload = models.JSONField()
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    threshold = models.JSONField(default=dict)  # the policy decision that asked for a checker
    requested_by = models.CharField(max_length=200)
    requested_by_label = models.CharField(max_length=150, blank=True, default="")
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_correlation_id = models.CharField(max_length=128)
    decided_by = models.CharField(max_length=200, blank=True, default="")
    decided_by_label = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True, default="")
    entry = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="approvals")
    outcome = models.JSONField(null=True, blank=True)  # the boundary's answer when executed

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="approval_amount_positive"),
            models.CheckConstraint(
                condition=(Q(status="pending", decided_at__isnull=True, decided_by="")
                           | (~Q(status="pending") & Q(decided_at__isnull=False) & ~Q(decided_by=""))),
                name="approval_decided_iff_not_pending",
            ),
            # Four eyes, held by the database as well as by the service.
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="approval_not_self_decided"),
            models.CheckConstraint(
                condition=Q(status="posted", entry__isnull=False) | (~Q(status="posted") & Q(entry__isnull=True)),
                name="approval_entry_iff_posted",
            ),
        ]
        indexes = [models.Index(fields=["status", "-requested_at"], name="approval_status_requested_idx")]
        verbose_name = "approval request"

    def __str__(self) -> str:
        return self.public_id
