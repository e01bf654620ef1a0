from django.db import models


class FormSubmission(models.Model):
    """The idempotency boundary of console actions that are not postings
    (policy edits, approval decisions, tenant creation). Each form carries a
    key minted when it was rendered; one key = one outcome, so a double click
    or a refresh replays the first result instead of acting twice. Money
    postings use the ledger's own boundary (IdempotencyRecord) instead.

    Lives in every tenant schema and in public (platform-staff forms)."""

    key = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=80)
    request_hash = models.CharField(max_length=64)
    actor_ref = models.CharField(max_length=200)
    result = models.JSONField(null=True, blank=True)  # {"redirect": url, "message": text}
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.action} {self.key}"
