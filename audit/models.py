from django.contrib.postgres.indexes import GinIndex
from django.db import models


class AuditEvent(models.Model):
    """One mutation, through any door. Append-only (database triggers)."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=16)
    actor_ref = models.CharField(max_length=200, db_index=True)
    action = models.CharField(max_length=80)  # indexed in Meta
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=100)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    policy_context = models.JSONField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # One index for `action = …` and `action LIKE 'ledger_entry.%'` (a
            # pattern_ops btree serves equality too), not Django's pair: every
            # posting writes an audit event.
            models.Index(fields=["action"], opclasses=["varchar_pattern_ops"], name="audit_action_idx"),
            # The compliance browser's `account` filter is a jsonb containment
            # test on metadata ({"account": c} / {"accounts": [c]}).
            GinIndex(fields=["metadata"], opclasses=["jsonb_path_ops"], name="audit_event_metadata_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor_ref}"


class ChainLink(models.Model):
    """One record sealed into the tenant's SHA-256 hash chain.

    Records (audit events, ledger entries) are written without touching this
    table; the sealer (audit.services.chain.chain_seal) appends links later
    under a per-tenant advisory lock, so postings never queue on a chain lock.
    hash = sha256(prev_hash || content_hash || seq); the database checks that
    formula and that seq is gapless (audit/migrations/0002).
    """

    seq = models.BigIntegerField(unique=True)
    record_type = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    # The record's own time (occurred_at / created_at): lets a reader see the
    # gap between a record's commit and its seal.
    record_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_type", "record_id"], name="chain_link_record_unique"),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="chain_link_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.record_type}:{self.record_id} {self.hash[:12]}"


class Export(models.Model):
    """A CSV export whose row set is pinned at creation (filters + the chain
    head of that moment), so every download of it yields the same bytes and
    the manifest's SHA-256 holds for all of them."""

    kind = models.CharField(max_length=40)
    filters = models.JSONField(default=dict)
    exporter = models.CharField(max_length=200)
    correlation_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    chain_head_seq = models.BigIntegerField(null=True, blank=True)
    chain_head_hash = models.CharField(max_length=64, blank=True, default="")
    # Upper bound on the exported model's id, taken at creation; with the
    # chain on, the chain pin is the exact one, this only narrows the scan.
    max_row_id = models.BigIntegerField(default=0)
    row_count = models.BigIntegerField(null=True, blank=True)
    byte_count = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    digested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"export {self.pk} {self.kind}"
