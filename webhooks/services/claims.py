"""Claiming due deliveries: one statement leases a batch to this dispatcher
(SKIP LOCKED, so concurrent dispatchers take disjoint batches); claims are
marked started just before they are sent, the ones that will not be sent are
handed back, and a started claim whose lease ran out is recorded as a lost
attempt.

A claim is a number on the row (`claim_seq`); the dispatcher holding it
marks it started (`sent_seq = claim_seq`), and its result is recorded only
while both still match, so each claim is attempted at most once however many
dispatchers race. The schedule lives in the rows, never in Redis."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from events.models import Event
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.jobs import Claim, Taken
from webhooks.services.recording import schedule_after_failure


_ENDPOINT_COLUMNS = (
    "e.id, e.public_id, e.url, e.secret_encrypted, e.previous_secret_encrypted, e.previous_secret_expires_at,"
    " e.failing_since, ev.id, ev.public_id, ev.type, ev.payload::text, ev.correlation_id, ev.created_at"
)

# Claim and lease up to %(limit)s due deliveries in one statement. `cand` locks the rows (SKIP LOCKED: concurrent dispatchers take
# disjoint batches); a started claim whose lease ran out (its worker died)
# comes back with lost = true and is not claimed here; a row whose endpoint is
# disabled comes back without a claim. No per-tenant cap on leased rows is
# needed here: claims are held only by running dispatchers (never queued in
# Redis), so a tenant has at most one batch per worker process leased.
_CLAIM_BATCH_SQL = f"""
WITH cand AS (
    SELECT d.id, (d.leased_until IS NOT NULL AND d.sent_seq = d.claim_seq) AS lost, d.next_attempt_at
    FROM webhooks_delivery d
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s AND (d.leased_until IS NULL OR d.leased_until <= %(now)s)
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
taken AS (
    UPDATE webhooks_delivery d SET claim_seq = d.claim_seq + 1, leased_until = %(lease)s
    FROM cand, webhooks_webhookendpoint e
    WHERE d.id = cand.id AND NOT cand.lost AND e.id = d.endpoint_id AND e.enabled
    RETURNING d.id, d.claim_seq, d.event_id, d.endpoint_id, d.next_trigger, d.attempt_count, d.final_after_next
)
SELECT c.id, c.lost, t.claim_seq, t.next_trigger, t.attempt_count, t.final_after_next, {_ENDPOINT_COLUMNS}
FROM cand c
LEFT JOIN taken t ON t.id = c.id
LEFT JOIN webhooks_webhookendpoint e ON e.id = t.endpoint_id
LEFT JOIN webhooks_event ev ON ev.id = t.event_id
ORDER BY c.next_attempt_at, c.id
"""


def claim_batch(*, now: datetime, limit: int) -> tuple[list[Claim], bool]:
    """Lease up to `limit` due deliveries of the current tenant schema to
    this dispatcher, in one statement; on the way, record started claims
    whose lease ran out as lost and fail deliveries whose endpoint is
    disabled. Returns the claims, and whether the batch was full (more may
    be due)."""
    lease_until = now + timedelta(seconds=settings.WEBHOOKS_LEASE_SECONDS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # synchronous_commit off for this transaction only: the WAL flush
            # was most of a delivery's cost. A database crash can then forget
            # the last moments of bookkeeping: a forgotten claim or start mark
            # makes the delivery due again, a forgotten result makes it go out
            # once more with the same webhook-id; at-least-once holds either
            # way. Ledger and API transactions (and the fan-out inside them)
            # keep full durability. The statements below relax it the same
            # way (set_config(..., true)). And: a queue table's
            # statistics are always stale, so with a backlog the planner would
            # pick a bitmap scan and sort every due row for each batch; the
            # index on next_attempt_at read in order stops after `limit` rows
            # (and marks dead index entries as it goes).
            cursor.execute(
                "SELECT set_config('synchronous_commit', 'off', true), set_config('enable_bitmapscan', 'off', true)"
            )
            cursor.execute(_CLAIM_BATCH_SQL, {"now": now, "limit": limit, "lease": lease_until})
            rows = cursor.fetchall()
        lost = [row[0] for row in rows if row[1]]
        unclaimed = [row[0] for row in rows if not row[1] and row[2] is None]
        if lost:
            for delivery in Delivery.objects.select_related("endpoint").filter(pk__in=lost).order_by("pk"):
                _record_lost(delivery, now=now)
        if unclaimed:  # the endpoint is disabled: fail without sending
            Delivery.objects.filter(pk__in=unclaimed).update(
                status=Delivery.Status.FAILED, failed_at=now, next_attempt_at=None, leased_until=None,
                last_error="endpoint disabled: not sent",
            )
    claims = [Claim(row[0], row[2], _taken_from_row(row)) for row in rows if row[2] is not None]
    return claims, len(rows) >= limit


def _taken_from_row(row: tuple) -> Taken:
    (trigger, attempts_made, final_after_next, ep_id, ep_public_id, url, secret, previous_secret, previous_expires,
     failing_since, ev_id, ev_public_id, ev_type, payload, correlation_id, created_at) = row[3:]
    endpoint = WebhookEndpoint(
        id=ep_id, public_id=ep_public_id, url=url, secret_encrypted=secret, previous_secret_encrypted=previous_secret,
        previous_secret_expires_at=previous_expires, failing_since=failing_since, enabled=True,
    )
    event = Event(
        id=ev_id, public_id=ev_public_id, type=ev_type, payload=json.loads(payload), correlation_id=correlation_id,
        created_at=created_at,
    )
    return Taken(trigger, attempts_made, final_after_next, endpoint, event)


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
    schedule_after_failure(delivery, now=now)
    delivery.next_trigger = Delivery.Trigger.SCHEDULED
    delivery.save(update_fields=[
        "attempt_count", "last_error", "last_status_code", "last_attempt_at", "leased_until", "status",
        "failed_at", "next_attempt_at", "final_after_next", "next_trigger",
    ])


# Claims are marked started (sent_seq = claim_seq) a few at a time, right
# before they are handed to the send threads: a dispatcher that dies leaves
# at most that window of started claims (recorded as lost attempts when the
# lease ends); the rest simply come back when the lease ends, unattempted.
_MARK_STARTED_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE webhooks_delivery d SET sent_seq = d.claim_seq
FROM unnest(%s::bigint[], %s::bigint[]) AS r(id, seq), relaxed
WHERE d.id = ANY(%s::bigint[]) AND d.id = r.id AND d.claim_seq = r.seq AND d.sent_seq < r.seq
  AND d.status = 'pending' AND d.leased_until > %s
RETURNING d.id
"""


def mark_started(claims: Sequence[Claim], *, now: datetime) -> set[int]:
    """Mark these claims started; returns the ids of those still ours."""
    with connection.cursor() as cursor:
        ids = [c.delivery_id for c in claims]
        cursor.execute(_MARK_STARTED_SQL, [ids, [c.claim_seq for c in claims], ids, now])
        return {row[0] for row in cursor.fetchall()}


# Claims a dispatcher took but will not send (their send would not fit in
# the lease any more): handed back at once, not recorded as attempts.
_RELEASE_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE webhooks_delivery d SET leased_until = NULL, sent_seq = LEAST(d.sent_seq, d.claim_seq - 1)
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(id, seq, attempts_made), relaxed
WHERE d.id = ANY(%s::bigint[]) AND d.id = r.id AND d.claim_seq = r.seq AND d.attempt_count = r.attempts_made
  AND d.status = 'pending'
"""


def claims_release(claims: Sequence[Claim]) -> None:
    """Hand these claims back unsent: due again at once, no attempt recorded."""
    _claims_update(_RELEASE_SQL, claims)


# Claims whose endpoint was disabled during the batch (a 410 from an earlier
# send): they fail without being sent, as they would have at claim time.
_FAIL_DISABLED_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE webhooks_delivery d SET status = 'failed', failed_at = %s, next_attempt_at = NULL, leased_until = NULL,
    sent_seq = LEAST(d.sent_seq, d.claim_seq - 1), last_error = 'endpoint disabled: not sent'
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(id, seq, attempts_made), relaxed
WHERE d.id = ANY(%s::bigint[]) AND d.id = r.id AND d.claim_seq = r.seq AND d.attempt_count = r.attempts_made
  AND d.status = 'pending'
"""


def claims_fail_disabled(claims: Sequence[Claim], *, now: datetime) -> None:
    """Fail these unsent claims: their endpoint was disabled meanwhile."""
    _claims_update(_FAIL_DISABLED_SQL, claims, now)


def _claims_update(sql: str, claims: Sequence[Claim], *first: Any) -> None:
    if claims:
        with connection.cursor() as cursor:
            ids = [c.delivery_id for c in claims]
            cursor.execute(sql, [*first, ids, [c.claim_seq for c in claims], [c.taken.attempts_made for c in claims], ids])
