"""The transactional outbox: one row per thing that happened, written in the
transaction of the change it announces (events.services.event_emit)."""
from django.db import models

from core.ids import time_ordered_hex


def new_event_id() -> str:
    return f"evt_{time_ordered_hex()}"


class Event(models.Model):
    """The transactional outbox: written in the same transaction as the change
    it announces; webhook deliveries and GET /v1/events read from here."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    type = models.CharField(max_length=80)  # indexed in Meta
    payload = models.JSONField()
    correlation_id = models.CharField(max_length=128, db_index=True)
    actor_ref = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # Moving the model between apps moved Django's state only
        # (events/migrations/0001_initial.py), never the table.
        db_table = "webhooks_event"
        # One index for `type = …` and `type LIKE 'ledger.%'` (a pattern_ops
        # btree serves equality too), instead of Django's pair: every posting
        # writes an event, and each index is one more insert.
        indexes = [models.Index(fields=["type"], opclasses=["varchar_pattern_ops"], name="event_type_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"
