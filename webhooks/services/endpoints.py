from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from webhooks import errors
from core import errors as core_errors
from events.types import pattern_is_known
from ledger.services.boundary import boundary_create_once
from webhooks.models import WebhookEndpoint
from events.services import event_emit
from core.signing import secret_decrypt, secret_encrypt, secret_generate
from webhooks.ssrf import url_vet

MAX_EVENT_TYPES = 50
_UNSET: Any = object()


@dataclass(frozen=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str  # the one-time reveal; never stored in clear, never logged


def endpoint_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit trail records: everything but the secrets."""
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "secret_rotated_at": endpoint.secret_rotated_at.isoformat() if endpoint.secret_rotated_at else None,
    }


def _clean_event_types(event_types: list[str]) -> list[str]:
    if not isinstance(event_types, list) or not event_types:
        raise core_errors.ValidationFailed("event_types must list at least one event type or pattern.", field="event_types")
    if len(event_types) > MAX_EVENT_TYPES:
        raise core_errors.ValidationFailed(f"event_types lists at most {MAX_EVENT_TYPES} entries.", field="event_types")
    unknown = sorted({t for t in event_types if not isinstance(t, str) or not pattern_is_known(t)}, key=str)
    if unknown:
        raise errors.UnknownEventType(
            f"Unknown event types or patterns: {', '.join(map(str, unknown))}. See GET /v1/webhook-event-types.",
            unknown=[str(u) for u in unknown],
        )
    return sorted(set(event_types))


def _clean_url(url: str) -> str:
    # Resolving happens before the transaction opens: DNS can be slow and
    # must not hold row locks.
    url_vet(url, allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK)
    return url


def endpoint_create(
    *, url: str, event_types: list[str], actor: Actor, description: str = "", enabled: bool = True,
) -> EndpointWithSecret:
    url = _clean_url(url)
    types = _clean_event_types(event_types)
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url, event_types=types, description=description[:500], enabled=enabled,
            disabled_reason="" if enabled else WebhookEndpoint.DisabledReason.MANUAL,
            disabled_at=None if enabled else timezone.now(),
            secret_encrypted=secret_encrypt(secret),
        )
        audit_record(
            actor=actor, action="webhook_endpoint.create", target_type="webhook_endpoint",
            target_id=endpoint.public_id, after=endpoint_snapshot(endpoint),
        )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_create_once(
    *, actor: Actor, idempotency_key: str, req_hash: str, url: str, event_types: list[str], description: str = "",
    enabled: bool = True,
) -> tuple[EndpointWithSecret, bool]:
    """endpoint_create at most once per idempotency key: a retry gets the
    endpoint the first request created, with its current secret; (created,
    replayed)."""
    kept, replayed = boundary_create_once(
        key=idempotency_key, operation="webhook_endpoint.create", req_hash=req_hash, actor=actor,
        create=lambda: {"id": endpoint_create(url=url, event_types=event_types, actor=actor, description=description,
                                              enabled=enabled).endpoint.public_id})
    endpoint = WebhookEndpoint.objects.get(public_id=kept["id"])
    return EndpointWithSecret(endpoint=endpoint, secret=secret_decrypt(endpoint.secret_encrypted)), replayed


def endpoint_update(
    *, endpoint: WebhookEndpoint, actor: Actor, url: str = _UNSET, event_types: list[str] = _UNSET,
    description: str = _UNSET,
) -> WebhookEndpoint:
    changes: dict[str, Any] = {}
    if url is not _UNSET:
        changes["url"] = _clean_url(url)
    if event_types is not _UNSET:
        changes["event_types"] = _clean_event_types(event_types)
    if description is not _UNSET:
        changes["description"] = description[:500]
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = endpoint_snapshot(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        if changes:
            locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            actor=actor, action="webhook_endpoint.update", target_type="webhook_endpoint",
            target_id=locked.public_id, before=before, after=endpoint_snapshot(locked),
        )
    return locked


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Actor, now: datetime | None = None) -> EndpointWithSecret:
    """New secret from now on; the old one keeps signing (alongside) for the
    overlap window so receivers can switch without dropping a delivery."""
    now = now or timezone.now()
    secret = secret_generate()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = endpoint_snapshot(locked)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + timedelta(seconds=settings.WEBHOOKS_ROTATION_OVERLAP_SECONDS)
        locked.secret_encrypted = secret_encrypt(secret)
        locked.secret_rotated_at = now
        locked.save(update_fields=[
            "previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted", "secret_rotated_at",
            "updated_at",
        ])
        audit_record(
            actor=actor, action="webhook_endpoint.rotate_secret", target_type="webhook_endpoint",
            target_id=locked.public_id, before=before, after=endpoint_snapshot(locked),
            metadata={"previous_secret_valid_until": locked.previous_secret_expires_at.isoformat()},
        )
    return EndpointWithSecret(endpoint=locked, secret=secret)


def endpoint_disable(
    *, endpoint: WebhookEndpoint, actor: Actor, reason: str = WebhookEndpoint.DisabledReason.MANUAL,
    detail: str = "", now: datetime | None = None,
) -> WebhookEndpoint:
    """Stop deliveries to an endpoint and announce it (webhook.endpoint.disabled).
    Also used by the delivery worker (HTTP 410, days of failures), inside its
    own transaction."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not locked.enabled:
            return locked
        before = endpoint_snapshot(locked)
        locked.enabled = False
        locked.disabled_reason = reason
        locked.disabled_at = now
        locked.save(update_fields=["enabled", "disabled_reason", "disabled_at", "updated_at"])
        audit_record(
            actor=actor, action="webhook_endpoint.disable", target_type="webhook_endpoint",
            target_id=locked.public_id, before=before, after=endpoint_snapshot(locked),
            metadata={"reason": reason, "detail": detail} if detail else {"reason": reason},
        )
        event_emit(
            type="webhook.endpoint.disabled", actor=actor,
            payload={
                "endpoint_id": locked.public_id, "url": locked.url, "reason": reason, "detail": detail,
                "disabled_at": now.isoformat(),
                "failing_since": locked.failing_since.isoformat() if locked.failing_since else None,
            },
        )
    return locked


def endpoint_enable(*, endpoint: WebhookEndpoint, actor: Actor) -> WebhookEndpoint:
    """Deliveries that failed while disabled stay failed: recover them with
    POST …/recover once the receiver is back."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = endpoint_snapshot(locked)
        if not locked.enabled:
            locked.enabled = True
            locked.disabled_reason = ""
            locked.disabled_at = None
            locked.failing_since = None  # a fresh chance: the 5-day clock restarts
            locked.save(update_fields=["enabled", "disabled_reason", "disabled_at", "failing_since", "updated_at"])
        audit_record(
            actor=actor, action="webhook_endpoint.enable", target_type="webhook_endpoint",
            target_id=locked.public_id, before=before, after=endpoint_snapshot(locked),
        )
    return locked
