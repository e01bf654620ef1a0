"""Webhooks' typed errors (stable codes on core.errors.ZentraError)."""
from core.errors import ZentraError


class WebhookUrlInvalid(ZentraError):
    status, code, title = 400, "webhook_url_invalid", "The webhook URL is not a valid http(s) URL"


class WebhookUrlForbidden(ZentraError):
    status, code, title = 400, "webhook_url_forbidden", "The webhook URL points to an address Zentra will not call"


class WebhookUrlUnresolvable(ZentraError):
    status, code, title = 400, "webhook_url_unresolvable", "The webhook URL's host does not resolve"


class UnknownEventType(ZentraError):
    status, code, title = 400, "unknown_event_type", "The event type (or pattern) is not one Zentra emits"


class WebhookEndpointDisabled(ZentraError):
    status, code, title = 409, "webhook_endpoint_disabled", "The webhook endpoint is disabled; enable it first"


class WebhookDeliveryInFlight(ZentraError):
    status, code, title, retryable = (
        409, "webhook_delivery_in_flight", "An attempt of this delivery is running right now", True,
    )
