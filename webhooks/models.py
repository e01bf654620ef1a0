import uuid

from django.db import models


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class Event(models.Model):
    """The transactional outbox: written in the same transaction as the change
    it announces; webhook deliveries and GET /v1/events read from here."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    type = models.CharField(max_length=80, db_index=True)
    payload = models.JSONField()
    correlation_id = models.CharField(max_length=128, db_index=True)
    actor_ref = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"
