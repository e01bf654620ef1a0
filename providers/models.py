"""Payment providers that call Zentra back, and every delivery they made.

A provider is configured per tenant (its row lives in the tenant's schema);
its signing secret is stored encrypted (core.signing's Fernet keys) and
leaves through the API only once, when Zentra generated it.
"""
import uuid

from django.db import models

from core.ids import time_ordered_hex


def new_provider_id() -> str:
    return f"prv_{uuid.uuid4().hex}"


def new_inbound_id() -> str:
    return f"inb_{time_ordered_hex()}"


class Provider(models.Model):
    class Kind(models.TextChoices):
        STRIPE = "stripe", "Stripe (built-in rules)"
        GENERIC = "generic", "Generic JSON mapping"

    class Scheme(models.TextChoices):
        STRIPE = "stripe", "Stripe-Signature: t=…,v1=…"
        STANDARD_WEBHOOKS = "standard_webhooks", "Standard Webhooks (webhook-id/-timestamp/-signature)"

    public_id = models.CharField(max_length=40, unique=True, default=new_provider_id)
    # The path segment of POST /v1/inbound/{slug}; never changes (it is part
    # of the ledger idempotency keys derived from the provider's event ids).
    slug = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    signature_scheme = models.CharField(max_length=24, choices=Scheme.choices)
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # Where the event id and type are, and one rule per event type (providers/mapping.py).
    mapping = models.JSONField(default=dict)
    tolerance_seconds = models.PositiveIntegerField(default=300)
    # An event still waiting for its prerequisite after this long ends failed.
    max_wait_seconds = models.PositiveIntegerField(default=3 * 24 * 3600)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.slug} ({self.kind})"


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "stored, not applied yet"
    APPLIED = "applied", "became a ledger transition"
    DUPLICATE = "duplicate", "the event was already applied; the boundary replayed it"
    WAITING = "waiting", "its prerequisite has not arrived"
    REJECTED = "rejected", "bad signature or malformed; never applied"
    IGNORED = "ignored", "no rule for this event type"
    FAILED = "failed", "can never apply; see the reason"


class SignatureResult(models.TextChoices):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    STALE = "stale"


class InboundDelivery(models.Model):
    """One HTTP request a provider made, stored before it is answered. Many
    deliveries may carry one provider event; the event's ledger transition
    happens once (the posting boundary, keyed by provider and event id)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_inbound_id)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="deliveries")
    received_at = models.DateTimeField(auto_now_add=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict)  # minus Authorization/Cookie
    # The exact bytes that were signed; for a delivery whose signature failed
    # only the first INBOUND_REJECTED_BODY_PREFIX_BYTES (anyone can send them).
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64)  # of the whole body as received
    body_size = models.PositiveIntegerField(default=0)  # of the whole body as received
    payload = models.JSONField(null=True, blank=True)  # parsed body, when it parsed
    signature_result = models.CharField(max_length=16, choices=SignatureResult.choices)
    signature_detail = models.CharField(max_length=300, blank=True, default="")
    event_id = models.CharField(max_length=255, blank=True, default="")
    event_type = models.CharField(max_length=120, blank=True, default="")
    status = models.CharField(max_length=16, choices=InboundStatus.choices)
    reason = models.CharField(max_length=1000, blank=True, default="")
    # What the posting boundary decided for this delivery: new posting,
    # replay of an earlier one, …; one line per apply attempt (last 20).
    decisions = models.JSONField(default=list, blank=True)
    ledger_key = models.CharField(max_length=255, blank=True, default="")
    entry = models.ForeignKey("ledger.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    applied_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    waiting_for = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["provider", "event_id"], name="providers_inb_event"),
            models.Index(fields=["provider", "status", "-id"], name="providers_inb_status"),
            models.Index(fields=["waiting_for"], name="providers_inb_waiting",
                         condition=models.Q(status="waiting")),
            models.Index(fields=["next_attempt_at"], name="providers_inb_due",
                         condition=models.Q(status__in=["received", "waiting"])),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.event_type} {self.status}"

    @property
    def last_detail(self) -> str:
        return (self.decisions or [{}])[-1].get("detail", "")

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")
