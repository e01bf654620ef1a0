"""Delivering events: claim, attempt, retry, dead-letter, replay, recover.

The schedule lives in PostgreSQL (`next_attempt_at`), never in long Celery
countdowns: Redis may lose its queue at any time and nothing is lost, because
the dispatcher re-derives the work from the rows. Every function takes `now`
so the schedule can be tested under a frozen clock.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from webhooks.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from webhooks.sender import SendResult, http_post
from webhooks.services.endpoints import endpoint_disable
from webhooks.services.events import dispatch_kick_on_commit
from webhooks.signing import secret_decrypt, signature_header

log = logging.getLogger("zentra.webhooks")

WORKER_ACTOR = Actor.system("webhooks.delivery")
USER_AGENT = "Zentra-Webhooks/1.0"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    claim_seq: int


def retry_delay(*, attempts_made: int, rand: Callable[[], float] = random.random) -> timedelta | None:
    """Delay before the next attempt once `attempts_made` attempts have failed,
    with ± jitter; None when the schedule is exhausted (dead letter)."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    jitter = settings.WEBHOOKS_RETRY_JITTER
    return timedelta(seconds=base * (1 + jitter * (2 * rand() - 1)))


def _fail(
    delivery: Delivery, *, now: datetime, terminal: bool = False, rand: Callable[[], float] = random.random,
) -> None:
    """After a failed or lost attempt (already counted in attempt_count):
    schedule the next one, or dead-letter the delivery."""
    delay = None
    if not (terminal or delivery.final_after_next):
        delay = retry_delay(attempts_made=delivery.attempt_count, rand=rand)
    if delay is None:
        delivery.status = Delivery.Status.FAILED
        delivery.failed_at = now
        delivery.next_attempt_at = None
        delivery.final_after_next = False
    else:
        delivery.next_attempt_at = now + delay


def _async_commit() -> None:
    """Let this bookkeeping transaction commit without waiting for the WAL
    flush (synchronous_commit off, for this transaction only): the fsync was
    most of a delivery's cost. A database crash can then forget the last
    moments of bookkeeping: a forgotten claim or start mark makes the delivery
    due again, a forgotten result makes it go out once more with the same
    webhook-id. At-least-once holds either way. Ledger and API transactions
    (and the fan-out inside them) keep full durability."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def delivery_claim_due(*, now: datetime | None = None, limit: int | None = None, enqueue: bool = True) -> list[Claim]:
    """Lease the due deliveries of the current tenant schema and (after
    commit) enqueue one task per claim. SKIP LOCKED lets several dispatchers
    run at once without waiting on or double-claiming each other's rows."""
    now = now or timezone.now()
    lease_until = now + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
    with transaction.atomic():
        _async_commit()
        in_flight = Delivery.objects.filter(status=Delivery.Status.PENDING, leased_until__gt=now).count()
        room = settings.WEBHOOKS_MAX_IN_FLIGHT_PER_TENANT - in_flight
        if limit is not None:
            room = min(room, limit)
        if room <= 0:
            return []
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
            .order_by("next_attempt_at")[:room]
        )
        claimable: list[Delivery] = []
        for delivery in rows:
            if delivery.leased_until is not None and delivery.sent_seq == delivery.claim_seq:
                _record_lost(delivery, now=now)
                if delivery.status != Delivery.Status.PENDING or delivery.next_attempt_at > now:
                    continue
            claimable.append(delivery)
        if claimable:
            Delivery.objects.filter(pk__in=[d.pk for d in claimable]).update(
                claim_seq=F("claim_seq") + 1, leased_until=lease_until,
            )
        claims = [Claim(delivery_id=d.pk, claim_seq=d.claim_seq + 1) for d in claimable]
        if enqueue and claims:
            schema = connection.schema_name
            transaction.on_commit(lambda: _enqueue(claims, schema), robust=True)
    return claims


def _record_lost(delivery: Delivery, *, now: datetime) -> None:
    """The claim's worker marked the send started and never came back
    (SIGKILL, OOM, lost host): the receiver may or may not have the message.
    It counts as a failed attempt, so the schedule moves on and the next
    attempt (same webhook-id) follows it."""
    number = delivery.attempt_count + 1
    DeliveryAttempt.objects.create(
        delivery=delivery, number=number, trigger=delivery.next_trigger, outcome=DeliveryAttempt.Outcome.LOST,
        error="lost: the worker stopped before recording a result (lease expired)",
        url=delivery.endpoint.url, started_at=delivery.leased_until - timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS),
    )
    delivery.attempt_count = number
    delivery.last_error = "lost: the worker stopped before recording a result"
    delivery.last_status_code = None
    delivery.last_attempt_at = now
    delivery.leased_until = None
    _fail(delivery, now=now)
    delivery.next_trigger = Delivery.Trigger.SCHEDULED
    delivery.save(update_fields=[
        "attempt_count", "last_error", "last_status_code", "last_attempt_at", "leased_until", "status",
        "failed_at", "next_attempt_at", "final_after_next", "next_trigger",
    ])


def _enqueue(claims: list[Claim], schema: str) -> None:
    from webhooks.tasks import deliver

    # One producer for the batch; `expires`: a task still queued when its
    # lease ends is stale (the row will have been claimed again). Computed
    # once: Celery would otherwise convert "seconds from now" per message.
    expires = timezone.now() + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
    headers = {"_schema_name": schema}
    with deliver.app.producer_or_acquire() as producer:
        for claim in claims:
            deliver.apply_async(
                (claim.delivery_id, claim.claim_seq), producer=producer, retry=False, headers=headers, expires=expires,
            )


def _schemas_with_due_work(schemas: list[str], now: datetime) -> list[str]:
    """Which of these schemas have a claimable delivery: one statement per
    chunk of schemas (each branch is an index probe), so an idle sweep over
    thousands of tenants costs a handful of queries, not thousands."""
    due: list[str] = []
    quote = connection.ops.quote_name
    for i in range(0, len(schemas), 200):
        chunk = schemas[i:i + 200]
        sql = " UNION ALL ".join(
            f"(SELECT %s::text WHERE EXISTS (SELECT 1 FROM {quote(schema)}.webhooks_delivery"
            " WHERE status = 'pending' AND next_attempt_at <= %s AND (leased_until IS NULL OR leased_until <= %s)))"
            for schema in chunk
        )
        params: list[Any] = []
        for schema in chunk:
            params += [schema, now, now]
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                due += [row[0] for row in cursor.fetchall()]
        except Exception:  # noqa: BLE001 - e.g. a schema dropped meanwhile: probe this chunk one by one
            log.warning("webhook sweep: chunk probe failed, checking %d schemas one by one", len(chunk))
            due += chunk
    return due


def delivery_dispatch_due(*, now: datetime | None = None, enqueue: bool = True) -> int:
    """The beat sweep: claim due deliveries in every active tenant's schema."""
    from django_tenants.utils import get_public_schema_name

    from tenants.models import Tenant

    now = now or timezone.now()
    connection.set_schema_to_public()
    tenants = {
        t.schema_name: t
        for t in Tenant.objects.filter(status=Tenant.Status.ACTIVE).exclude(schema_name=get_public_schema_name())
    }
    claimed = 0
    try:
        for schema in _schemas_with_due_work(sorted(tenants), now):
            tenant = tenants[schema]
            connection.set_tenant(tenant)
            try:
                claimed += len(delivery_claim_due(now=now, enqueue=enqueue))
            except Exception:  # noqa: BLE001 - one broken tenant must not starve the others
                log.exception("webhook dispatch failed for tenant %s", tenant.slug)
    finally:
        connection.set_schema_to_public()
    return claimed


def delivery_body(event: Event) -> bytes:
    """The exact bytes that are signed and sent; the same on every attempt."""
    tenant = getattr(connection, "tenant", None)
    data = {**event.payload, "correlation_id": event.correlation_id}
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
            "tenant": getattr(tenant, "slug", connection.schema_name),
            "data": data,
        },
        separators=(",", ":"), ensure_ascii=False, default=str,
    ).encode()


def _signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [secret_decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return secrets


@dataclass(frozen=True)
class _Taken:
    """What phase 1 learned about a claim it took: everything the send and the
    result need, so neither has to read the rows again."""

    trigger: str
    attempts_made: int
    final_after_next: bool
    endpoint: WebhookEndpoint
    event: Event


# Phase 1 in one statement (one round trip, its own implicit transaction):
# the claim is re-checked and marked started under the row lock the UPDATE
# takes, and the endpoint and event come back with it. set_config(..., true)
# relaxes durability for this statement's transaction only (see _async_commit).
_TAKE_CLAIM_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
taken AS (
    UPDATE webhooks_delivery d SET sent_seq = d.claim_seq
    FROM relaxed
    WHERE d.id = %(id)s AND d.claim_seq = %(seq)s AND d.sent_seq < %(seq)s AND d.status = 'pending'
      AND d.leased_until > %(now)s
      AND EXISTS (SELECT 1 FROM webhooks_webhookendpoint e WHERE e.id = d.endpoint_id AND e.enabled)
    RETURNING d.event_id, d.endpoint_id, d.next_trigger, d.attempt_count, d.final_after_next
)
SELECT t.next_trigger, t.attempt_count, t.final_after_next,
       e.id, e.public_id, e.url, e.secret_encrypted, e.previous_secret_encrypted, e.previous_secret_expires_at,
       e.failing_since, ev.id, ev.public_id, ev.type, ev.payload::text, ev.correlation_id, ev.created_at
FROM taken t
JOIN webhooks_webhookendpoint e ON e.id = t.endpoint_id
JOIN webhooks_event ev ON ev.id = t.event_id
"""

# Phase 3 in one statement: the delivery moves on only if the claim is still
# ours, and the attempt row is written only if it did.
_RECORD_RESULT_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
moved AS (
    UPDATE webhooks_delivery d SET
        attempt_count = %(number)s, last_status_code = %(status_code)s, last_error = %(last_error)s,
        last_attempt_at = %(now)s, leased_until = NULL, next_trigger = 'scheduled', status = %(status)s,
        next_attempt_at = %(next_attempt_at)s, final_after_next = %(final_after_next)s,
        succeeded_at = COALESCE(%(succeeded_at)s, d.succeeded_at), failed_at = COALESCE(%(failed_at)s, d.failed_at)
    FROM relaxed
    WHERE d.id = %(id)s AND d.claim_seq = %(seq)s AND d.sent_seq = %(seq)s AND d.status = 'pending'
      AND d.attempt_count = %(attempts_made)s
    RETURNING d.id
)
INSERT INTO webhooks_deliveryattempt
    (delivery_id, number, trigger, outcome, status_code, duration_ms, response_excerpt, error, url, started_at, created_at)
SELECT id, %(number)s, %(trigger)s, %(outcome)s, %(status_code)s, %(duration_ms)s, %(excerpt)s, %(error)s, %(url)s,
       %(started)s, %(now)s
FROM moved
RETURNING id
"""


def _take_claim(*, delivery_id: int, claim_seq: int, now: datetime) -> _Taken | None:
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_CLAIM_SQL, {"id": delivery_id, "seq": claim_seq, "now": now})
        row = cursor.fetchone()
    if row is None:
        _fail_if_endpoint_disabled(delivery_id=delivery_id, claim_seq=claim_seq, now=now)
        return None
    (trigger, attempts_made, final_after_next, ep_id, ep_public_id, url, secret, previous_secret, previous_expires,
     failing_since, ev_id, ev_public_id, ev_type, payload, correlation_id, created_at) = row
    endpoint = WebhookEndpoint(
        id=ep_id, public_id=ep_public_id, url=url, secret_encrypted=secret, previous_secret_encrypted=previous_secret,
        previous_secret_expires_at=previous_expires, failing_since=failing_since, enabled=True,
    )
    event = Event(
        id=ev_id, public_id=ev_public_id, type=ev_type, payload=json.loads(payload), correlation_id=correlation_id,
        created_at=created_at,
    )
    return _Taken(trigger, attempts_made, final_after_next, endpoint, event)


def _fail_if_endpoint_disabled(*, delivery_id: int, claim_seq: int, now: datetime) -> None:
    """The claim was not taken: stale, a duplicate, or its endpoint is
    disabled. Only the last needs doing something: fail without sending."""
    with transaction.atomic():
        _async_commit()
        delivery = (
            Delivery.objects.select_for_update(of=("self",)).select_related("endpoint")
            .filter(pk=delivery_id, status=Delivery.Status.PENDING, claim_seq=claim_seq, sent_seq__lt=claim_seq,
                    endpoint__enabled=False)
            .first()
        )
        if delivery is None:
            return
        delivery.status = Delivery.Status.FAILED
        delivery.failed_at = now
        delivery.next_attempt_at = None
        delivery.leased_until = None
        delivery.last_error = "endpoint disabled: not sent"
        delivery.save(update_fields=["status", "failed_at", "next_attempt_at", "leased_until", "last_error"])


def delivery_attempt(
    *, delivery_id: int, claim_seq: int, now: datetime | None = None,
    clock: Callable[[], datetime] = timezone.now, rand: Callable[[], float] = random.random,
) -> DeliveryAttempt | None:
    """Send the attempt `claim_seq` grants, once, and record it.

    Two short statements around the HTTP call rather than one long
    transaction: the first takes the claim under the row lock (a duplicate
    task for the same claim finds it taken and does nothing), the second
    records the result if the claim is still ours. No lock or transaction is
    held while the receiver thinks. Returns None when there was nothing
    (more) to do for this claim.
    """
    started = now or clock()
    taken = _take_claim(delivery_id=delivery_id, claim_seq=claim_seq, now=started)
    if taken is None:
        return None
    endpoint, event = taken.endpoint, taken.event
    body = delivery_body(event)
    secrets = _signing_secrets(endpoint, started)
    timestamp = int(time.time())  # wall clock even under a test clock: receivers check it against theirs
    result: SendResult = http_post(
        url=endpoint.url, body=body, timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
        allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK, excerpt_bytes=settings.WEBHOOKS_RESPONSE_EXCERPT_BYTES,
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": event.public_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                secrets=secrets, msg_id=event.public_id, timestamp=timestamp, body=body,
            ),
        },
    )
    finished = now or clock()  # an injected clock is frozen: the attempt takes no time on it
    return _record_result(
        delivery_id=delivery_id, claim_seq=claim_seq, taken=taken, result=result, started=started, now=finished,
        rand=rand,
    )


def _record_result(
    *, delivery_id: int, claim_seq: int, taken: _Taken, result: SendResult, started: datetime, now: datetime,
    rand: Callable[[], float],
) -> DeliveryAttempt | None:
    number = taken.attempts_made + 1
    # The next state is computed on a detached row: while the claim is ours
    # nothing else changes attempt_count or final_after_next (replay refuses
    # in-flight deliveries, recover only touches failed ones), and the
    # statement below checks that the claim is still ours.
    state = Delivery(attempt_count=number, final_after_next=taken.final_after_next)
    gone = result.status_code == 410
    if result.ok:
        state.status, state.succeeded_at, state.final_after_next = Delivery.Status.SUCCEEDED, now, False
    else:
        state.status = Delivery.Status.PENDING
        _fail(state, now=now, terminal=gone, rand=rand)
    attempt = DeliveryAttempt(
        delivery_id=delivery_id, number=number, trigger=taken.trigger,
        outcome=DeliveryAttempt.Outcome.SUCCEEDED if result.ok else DeliveryAttempt.Outcome.FAILED,
        status_code=result.status_code, duration_ms=result.duration_ms, response_excerpt=result.excerpt,
        error=result.error, url=taken.endpoint.url, started_at=started, created_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_RESULT_SQL, {
            "id": delivery_id, "seq": claim_seq, "attempts_made": taken.attempts_made, "number": number,
            "status_code": result.status_code, "now": now, "status": state.status,
            "last_error": result.error or ("" if result.ok else f"HTTP {result.status_code}"),
            "next_attempt_at": state.next_attempt_at if state.status == Delivery.Status.PENDING else None,
            "final_after_next": state.final_after_next, "succeeded_at": state.succeeded_at,
            "failed_at": state.failed_at, "trigger": attempt.trigger, "outcome": attempt.outcome,
            "duration_ms": attempt.duration_ms, "excerpt": attempt.response_excerpt, "error": attempt.error,
            "url": attempt.url, "started": started,
        })
        row = cursor.fetchone()
    if row is None:
        # Only possible if this attempt outlived its lease (the lease is
        # longer than the timeout, so: a stalled process). The dispatcher
        # has already recorded it as lost and moved on.
        log.warning("webhook delivery %s: result of claim %s arrived after its lease", delivery_id, claim_seq)
        return None
    attempt.id = row[0]
    # Endpoint health changes rarely (first failure of a streak, the first
    # success after one, a disable): only then is there more to write.
    if result.ok:
        if taken.endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=taken.endpoint.pk).update(failing_since=None)
    else:
        _endpoint_note_failure(taken.endpoint, now=now, gone=gone)
    return attempt


def _endpoint_note_failure(endpoint: WebhookEndpoint, *, now: datetime, gone: bool) -> None:
    if gone:
        endpoint_disable(
            endpoint=endpoint, actor=WORKER_ACTOR, reason=WebhookEndpoint.DisabledReason.GONE,
            detail="The receiver answered HTTP 410 Gone.", now=now,
        )
        return
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        return
    failing_for = (now - endpoint.failing_since).total_seconds()
    if endpoint.enabled and failing_for >= settings.WEBHOOKS_DISABLE_AFTER_FAILING_SECONDS:
        endpoint_disable(
            endpoint=endpoint, actor=WORKER_ACTOR, reason=WebhookEndpoint.DisabledReason.FAILING,
            detail=f"Every attempt failed for {failing_for / 86400:.1f} days.", now=now,
        )


def delivery_replay(*, delivery: Delivery, actor: Actor, now: datetime | None = None) -> Delivery:
    """Send a delivery again now (same webhook-id). A pending delivery keeps
    its schedule afterwards; a finished one gets exactly this one attempt."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Delivery.objects.select_for_update(of=("self",)).select_related("endpoint", "event").get(pk=delivery.pk)
        if not locked.endpoint.enabled:
            raise errors.WebhookEndpointDisabled("The delivery's endpoint is disabled; enable it before replaying.")
        if locked.leased_until is not None and locked.leased_until > now:
            raise errors.WebhookDeliveryInFlight("An attempt of this delivery is running; try again in a moment.")
        before = _delivery_snapshot(locked)
        if locked.status != Delivery.Status.PENDING:
            locked.final_after_next = True
        locked.status = Delivery.Status.PENDING
        locked.next_attempt_at = now
        locked.next_trigger = Delivery.Trigger.MANUAL
        locked.leased_until = None
        locked.save(update_fields=["status", "next_attempt_at", "next_trigger", "final_after_next", "leased_until"])
        audit_record(
            actor=actor, action="webhook_delivery.replay", target_type="webhook_delivery", target_id=locked.public_id,
            before=before, after=_delivery_snapshot(locked),
        )
        dispatch_kick_on_commit()
    return locked


def delivery_recover_failed(
    *, endpoint: WebhookEndpoint, since: datetime, actor: Actor, now: datetime | None = None,
) -> int:
    """Replay every delivery of this endpoint that failed at or after `since`
    (one manual attempt each). Returns how many were queued."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not locked.enabled:
            raise errors.WebhookEndpointDisabled("The endpoint is disabled; enable it before recovering deliveries.")
        count = Delivery.objects.filter(
            endpoint=locked, status=Delivery.Status.FAILED, failed_at__gte=since,
        ).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, next_trigger=Delivery.Trigger.MANUAL,
            final_after_next=True, leased_until=None,
        )
        audit_record(
            actor=actor, action="webhook_endpoint.recover", target_type="webhook_endpoint", target_id=locked.public_id,
            metadata={"since": since.isoformat(), "deliveries_queued": count},
        )
        if count:
            dispatch_kick_on_commit()
    return count


def _delivery_snapshot(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.public_id, "status": delivery.status, "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None,
        "next_trigger": delivery.next_trigger,
    }
