import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from core.ids import time_ordered_hex


def new_endpoint_id() -> str:
    return f"ep_{uuid.uuid4().hex}"


def new_delivery_id() -> str:
    return f"dlv_{time_ordered_hex()}"


class WebhookEndpoint(models.Model):
    """Where a tenant wants events pushed. Secrets are stored encrypted
    (core.signing) and never leave through the API after the one-time reveal."""

    class DisabledReason(models.TextChoices):
        NONE = "", "enabled"
        MANUAL = "manual"
        GONE = "gone", "receiver answered HTTP 410"
        FAILING = "failing", "failing continuously"

    public_id = models.CharField(max_length=40, unique=True, default=new_endpoint_id)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=80))
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # First failure of the current unbroken run of failures; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [GinIndex(fields=["event_types"], name="webhooks_ep_types_gin")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"


class Delivery(models.Model):
    """One event for one endpoint: the unit that is retried and dead-lettered.

    Claiming works by lease: the dispatcher bumps `claim_seq` and sets
    `leased_until`; the worker holding that claim marks it started
    (`sent_seq = claim_seq`) under the row lock before it sends, so two tasks
    for one claim can never both send, and a claim whose worker died is known
    (started, lease expired) and recorded as a lost attempt.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled"
        MANUAL = "manual"

    public_id = models.CharField(max_length=40, unique=True, default=new_delivery_id)
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    next_trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULED)
    # A replay of a finished delivery is one manual attempt, not a new schedule.
    final_after_next = models.BooleanField(default=False)
    claim_seq = models.PositiveIntegerField(default=0)
    sent_seq = models.PositiveIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhooks_delivery_once_per_endpoint")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="webhooks_dlv_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["endpoint", "status", "-id"], name="webhooks_dlv_ep_status"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery. Append-only: the evidence of what the
    receiver was sent and what it answered."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        LOST = "lost", "worker stopped before recording a result"

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=Delivery.Trigger.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1024, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    url = models.CharField(max_length=2048)
    started_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_number_once")]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number} {self.outcome}"
