"""Recording attempts: the retry schedule, each result written as an
attempt with its delivery moved on (succeeded, retried later, or dead-
lettered), and endpoint health (failing since when; disabled on a 410 or
after days of failures). Every function takes `now` or the attempt's own
times, so the schedule can be tested under a frozen clock."""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import connection

from core.actors import Actor
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services.endpoints import endpoint_disable
from webhooks.services.jobs import Outcome

log = logging.getLogger("zentra.webhooks")

WORKER_ACTOR = Actor.system("webhooks.delivery")


def retry_delay(*, attempts_made: int, rand: Callable[[], float] = random.random) -> timedelta | None:
    """Delay before the next attempt once `attempts_made` attempts have failed,
    with ± jitter; None when the schedule is exhausted (dead letter)."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    jitter = settings.WEBHOOKS_RETRY_JITTER
    return timedelta(seconds=base * (1 + jitter * (2 * rand() - 1)))


def schedule_after_failure(
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


# Results of any number of attempts in one statement: each delivery moves on
# only if its claim is still ours (claim and start numbers match, nothing
# else recorded an attempt meanwhile), and its attempt row is written only if
# it did. One JSON document for all rows, parsed once by PostgreSQL; the ids
# again as an array so the rows are found through the primary key (joined to
# the function alone, the planner would hash-join against every pending row).
_RECORD_RESULTS_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
r AS (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(
        id bigint, seq bigint, attempts_made bigint, number bigint, status text, status_code int, last_error text,
        next_attempt_at timestamptz, final_after_next boolean, succeeded_at timestamptz, failed_at timestamptz,
        trigger text, outcome text, duration_ms int, excerpt text, error text, url text, started timestamptz,
        at timestamptz)
),
moved AS (
    UPDATE webhooks_delivery d SET
        attempt_count = r.number, last_status_code = r.status_code, last_error = r.last_error,
        last_attempt_at = r.at, leased_until = NULL, next_trigger = 'scheduled', status = r.status,
        next_attempt_at = r.next_attempt_at, final_after_next = r.final_after_next,
        succeeded_at = COALESCE(r.succeeded_at, d.succeeded_at), failed_at = COALESCE(r.failed_at, d.failed_at)
    FROM r, relaxed
    WHERE d.id = ANY(%s::bigint[]) AND d.id = r.id AND d.claim_seq = r.seq AND d.sent_seq = r.seq
      AND d.status = 'pending' AND d.attempt_count = r.attempts_made
    RETURNING d.id
)
INSERT INTO webhooks_deliveryattempt
    (delivery_id, number, trigger, outcome, status_code, duration_ms, response_excerpt, error, url, started_at, created_at)
SELECT r.id, r.number, r.trigger, r.outcome, r.status_code, r.duration_ms, r.excerpt, r.error, r.url, r.started, r.at
FROM r JOIN moved ON moved.id = r.id
RETURNING id, delivery_id
"""


def record_results(
    outcomes: list[Outcome], *, health: Health, rand: Callable[[], float],
) -> list[DeliveryAttempt | None]:
    """Record attempts and move their deliveries on, in one statement; then
    endpoint health. Returns each outcome's attempt, None where the claim
    was no longer ours (its lease ran out and it was recorded as lost)."""
    rows: list[dict[str, Any]] = []
    attempts: list[DeliveryAttempt] = []
    for outcome in outcomes:
        taken, result, now = outcome.job.taken, outcome.result, outcome.finished
        number = taken.attempts_made + 1
        # The next state is computed on a detached row: while the claim is
        # ours nothing else changes attempt_count or final_after_next (replay
        # refuses in-flight deliveries, recover only touches failed ones), and
        # the statement checks that the claim is still ours.
        state = Delivery(attempt_count=number, final_after_next=taken.final_after_next)
        if result.ok:
            state.status, state.succeeded_at, state.final_after_next = Delivery.Status.SUCCEEDED, now, False
        else:
            state.status = Delivery.Status.PENDING
            schedule_after_failure(state, now=now, terminal=result.status_code == 410, rand=rand)
        attempt = DeliveryAttempt(
            delivery_id=outcome.job.delivery_id, number=number, trigger=taken.trigger,
            outcome=DeliveryAttempt.Outcome.SUCCEEDED if result.ok else DeliveryAttempt.Outcome.FAILED,
            status_code=result.status_code, duration_ms=result.duration_ms, response_excerpt=result.excerpt,
            error=result.error, url=taken.endpoint.url, started_at=outcome.started, created_at=now,
        )
        attempts.append(attempt)
        rows.append({
            "id": outcome.job.delivery_id, "seq": outcome.job.claim_seq, "attempts_made": taken.attempts_made,
            "number": number, "status": state.status, "status_code": result.status_code,
            "last_error": result.error or ("" if result.ok else f"HTTP {result.status_code}"),
            "next_attempt_at": _iso(state.next_attempt_at if state.status == Delivery.Status.PENDING else None),
            "final_after_next": state.final_after_next, "succeeded_at": _iso(state.succeeded_at),
            "failed_at": _iso(state.failed_at), "trigger": attempt.trigger, "outcome": attempt.outcome,
            "duration_ms": attempt.duration_ms, "excerpt": attempt.response_excerpt, "error": attempt.error,
            "url": attempt.url, "started": _iso(outcome.started), "at": _iso(now),
        })
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_RESULTS_SQL, [json.dumps(rows), [row["id"] for row in rows]])
        recorded = {delivery_id: attempt_id for attempt_id, delivery_id in cursor.fetchall()}
    out: list[DeliveryAttempt | None] = []
    kept: list[Outcome] = []
    for outcome, attempt in zip(outcomes, attempts):
        if attempt.delivery_id in recorded:
            attempt.id = recorded[attempt.delivery_id]
            out.append(attempt)
            kept.append(outcome)
        else:
            # Only possible if this attempt outlived its lease (sends start
            # only while they fit in it, so: a stalled process). The
            # dispatcher has already recorded it as lost and moved on.
            log.warning("webhook delivery %s: result of claim %s arrived after its lease",
                        outcome.job.delivery_id, outcome.job.claim_seq)
            out.append(None)
    if kept:
        health.note(kept)
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class Health:
    """Endpoint health as this dispatcher knows it: the failing_since each
    endpoint had when claimed, updated as results are recorded, so a batch
    writes to an endpoint row only when its health changes."""

    failing_since: dict[int, datetime | None] = field(default_factory=dict)
    disabled: set[int] = field(default_factory=set)

    def track(self, endpoint: WebhookEndpoint) -> None:
        self.failing_since.setdefault(endpoint.pk, endpoint.failing_since)

    def note(self, outcomes: list[Outcome]) -> None:
        by_endpoint: dict[int, list[Outcome]] = {}
        for outcome in outcomes:
            by_endpoint.setdefault(outcome.job.taken.endpoint.pk, []).append(outcome)
        for endpoint_id, items in by_endpoint.items():
            endpoint = items[0].job.taken.endpoint
            if endpoint_id in self.disabled:
                continue
            gone = next((o for o in items if o.result.status_code == 410), None)
            if gone is not None:
                self.disabled.add(endpoint_id)
                endpoint_disable(
                    endpoint=endpoint, actor=WORKER_ACTOR, reason=WebhookEndpoint.DisabledReason.GONE,
                    detail="The receiver answered HTTP 410 Gone.", now=gone.finished,
                )
                continue
            known = self.failing_since.get(endpoint_id, endpoint.failing_since)
            last_ok = max((i for i, o in enumerate(items) if o.result.ok), default=None)
            if last_ok == len(items) - 1:
                if known is not None:  # any success resets the clock
                    WebhookEndpoint.objects.filter(pk=endpoint_id).update(failing_since=None)
                self.failing_since[endpoint_id] = None
                continue
            first_failure = items[0 if last_ok is None else last_ok + 1].finished
            if last_ok is not None:
                WebhookEndpoint.objects.filter(pk=endpoint_id).update(failing_since=first_failure)
                self.failing_since[endpoint_id] = first_failure
            elif known is None:
                WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(
                    failing_since=first_failure,
                )
                self.failing_since[endpoint_id] = first_failure
            else:
                now = items[-1].finished
                failing_for = (now - known).total_seconds()
                if failing_for >= settings.WEBHOOKS_DISABLE_AFTER_FAILING_SECONDS:
                    self.disabled.add(endpoint_id)
                    endpoint_disable(
                        endpoint=endpoint, actor=WORKER_ACTOR, reason=WebhookEndpoint.DisabledReason.FAILING,
                        detail=f"Every attempt failed for {failing_for / 86400:.1f} days.", now=now,
                    )
