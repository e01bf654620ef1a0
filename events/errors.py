"""The outbox's typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


class EventPayloadTooLarge(ZentraError):
    status, code, title = 413, "event_payload_too_large", "The event payload is larger than webhooks may carry"
