"""Delivering events: claim, attempt, retry, dead-letter, replay, recover.

The schedule lives in PostgreSQL (`next_attempt_at`), never in long Celery
countdowns: Redis may lose its queue at any time and nothing is lost, because
the dispatcher re-derives the work from the rows. Every function takes `now`
so the schedule can be tested under a frozen clock.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from core.tasks import task_named
from core.tenancy import active_tenants
from audit.services.audit import audit_record
from webhooks import errors
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from events.models import Event
from webhooks.selectors import resendable_failed
from webhooks.sender import SenderPool, SendResult
from webhooks.services.endpoints import endpoint_disable
from webhooks.services.fanout import dispatch_kick_on_commit
from core.signing import secret_decrypt, signature_header

log = logging.getLogger("zentra.webhooks")

WORKER_ACTOR = Actor.system("webhooks.delivery")
USER_AGENT = "Zentra-Webhooks/1.0"


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


def delivery_dispatch_due(*, now: datetime | None = None, enqueue: bool = True) -> list[str]:
    """The beat sweep: find the active tenants with claimable deliveries and
    queue one dispatcher task (webhooks.dispatch_tenant) for each, which
    claims and sends in that tenant's schema. Returns those schemas. The
    tasks expire after two sweep periods: a backlog of sweeps never piles up
    in Redis, the next sweep finds the rows again."""
    now = now or timezone.now()
    schemas = sorted(tenant.schema_name for tenant in active_tenants())
    due = _schemas_with_due_work(schemas, now)
    if enqueue and due:
        dispatch_enqueue(schemas=due)
    return due


def dispatch_enqueue(*, schemas: list[str]) -> None:
    """Queue one dispatcher task per schema (after a sweep, or to continue a
    tenant's backlog in parallel). Never raises: the sweep is the safety net."""
    dispatch_tenant = task_named("webhooks.dispatch_tenant")
    expires = timezone.now() + timedelta(seconds=max(5.0, 2 * settings.WEBHOOKS_DISPATCH_INTERVAL))
    try:
        with dispatch_tenant.app.producer_or_acquire() as producer:
            for schema in schemas:
                dispatch_tenant.apply_async(
                    producer=producer, retry=False, headers={"_schema_name": schema}, expires=expires,
                )
    except Exception:  # noqa: BLE001 - Redis down: the rows wait in PostgreSQL for the next sweep
        log.warning("webhook dispatch: could not queue dispatcher tasks for %d schemas", len(schemas), exc_info=True)


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
    """What taking a claim learned: everything the send and the result need,
    so neither has to read the rows again."""

    trigger: str
    attempts_made: int
    final_after_next: bool
    endpoint: WebhookEndpoint
    event: Event


@dataclass(frozen=True)
class _Job:
    """One taken claim, ready to send."""

    delivery_id: int
    claim_seq: int
    taken: _Taken
    body: bytes
    secrets: list[str]


@dataclass(frozen=True)
class _Outcome:
    job: _Job
    result: SendResult
    started: datetime
    finished: datetime


_ENDPOINT_COLUMNS = (
    "e.id, e.public_id, e.url, e.secret_encrypted, e.previous_secret_encrypted, e.previous_secret_expires_at,"
    " e.failing_since, ev.id, ev.public_id, ev.type, ev.payload::text, ev.correlation_id, ev.created_at"
)

# The batch path: claim and lease up to %(limit)s due deliveries in one
# statement. `cand` locks the rows (SKIP LOCKED: concurrent dispatchers take
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

# Claims a dispatcher took but will not send (their send would not fit in
# the lease any more): handed back at once, not recorded as attempts.
_RELEASE_SQL = """
WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE webhooks_delivery d SET leased_until = NULL, sent_seq = LEAST(d.sent_seq, d.claim_seq - 1)
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS r(id, seq, attempts_made), relaxed
WHERE d.id = ANY(%s::bigint[]) AND d.id = r.id AND d.claim_seq = r.seq AND d.attempt_count = r.attempts_made
  AND d.status = 'pending'
"""

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


def _taken_from_row(row: tuple) -> _Taken:
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
    return _Taken(trigger, attempts_made, final_after_next, endpoint, event)


# --- sending -----------------------------------------------------------------

_runtime_lock = threading.Lock()
_runtime: dict[int, tuple[SenderPool, ThreadPoolExecutor]] = {}


def _sender_runtime() -> tuple[SenderPool, ThreadPoolExecutor]:
    """This process's keep-alive pool and send threads, made on first use
    (after a prefork worker forks, never inherited from the parent)."""
    pid = os.getpid()
    with _runtime_lock:
        found = _runtime.get(pid)
        if found is None:
            _runtime.clear()
            found = _runtime[pid] = (
                SenderPool(),
                ThreadPoolExecutor(max_workers=settings.WEBHOOKS_SEND_THREADS, thread_name_prefix="webhooks-send"),
            )
        return found


def _job(*, delivery_id: int, claim_seq: int, taken: _Taken, now: datetime, secrets_cache: dict) -> _Job:
    endpoint = taken.endpoint
    key = (endpoint.pk, endpoint.secret_encrypted, endpoint.previous_secret_encrypted)
    if key not in secrets_cache:
        secrets_cache[key] = _signing_secrets(endpoint, now)
    return _Job(delivery_id, claim_seq, taken, delivery_body(taken.event), secrets_cache[key])


def _send(job: _Job, *, pool: SenderPool, clock: Callable[[], datetime], now: datetime | None) -> _Outcome:
    event = job.taken.event

    def headers() -> dict[str, str]:
        # Signed right before the request leaves, so the timestamp is fresh
        # even for a job that waited for a send thread. Wall clock even under
        # a test clock: receivers check it against theirs.
        timestamp = int(time.time())
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": event.public_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                secrets=job.secrets, msg_id=event.public_id, timestamp=timestamp, body=job.body,
            ),
        }

    started = now or clock()
    try:
        result = pool.post(
            url=job.taken.endpoint.url, headers=headers, body=job.body, timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK, excerpt_bytes=settings.WEBHOOKS_RESPONSE_EXCERPT_BYTES,
        )
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the claim unrecorded
        log.exception("webhook delivery %s: sending failed unexpectedly", job.delivery_id)
        result = SendResult(None, 0, "", f"internal: {type(exc).__name__}")
    finished = now or clock()  # an injected clock is frozen: the attempt takes no time on it
    return _Outcome(job, result, started, finished)


@dataclass
class _Health:
    """Endpoint health as this dispatcher knows it: the failing_since each
    endpoint had when claimed, updated as results are recorded, so a batch
    writes to an endpoint row only when its health changes."""

    failing_since: dict[int, datetime | None] = field(default_factory=dict)
    disabled: set[int] = field(default_factory=set)

    def track(self, endpoint: WebhookEndpoint) -> None:
        self.failing_since.setdefault(endpoint.pk, endpoint.failing_since)

    def note(self, outcomes: list[_Outcome]) -> None:
        by_endpoint: dict[int, list[_Outcome]] = {}
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record_results(
    outcomes: list[_Outcome], *, health: _Health, rand: Callable[[], float],
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
            _fail(state, now=now, terminal=result.status_code == 410, rand=rand)
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
    kept: list[_Outcome] = []
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


def _claims_update(sql: str, jobs: list[_Job], *first: Any) -> None:
    if jobs:
        with connection.cursor() as cursor:
            ids = [j.delivery_id for j in jobs]
            cursor.execute(sql, [*first, ids, [j.claim_seq for j in jobs], [j.taken.attempts_made for j in jobs], ids])


def _mark_started(jobs: list[_Job], *, now: datetime) -> set[int]:
    with connection.cursor() as cursor:
        ids = [j.delivery_id for j in jobs]
        cursor.execute(_MARK_STARTED_SQL, [ids, [j.claim_seq for j in jobs], ids, now])
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class BatchReport:
    claimed: int  # claims taken (and so attempts owed)
    recorded: int  # attempts recorded
    released: int  # claims handed back unsent (would not fit in the lease) or failed (endpoint disabled)
    full: bool  # the batch was full: more may be due


# Results are written in groups: when this many have come in, when the
# oldest unwritten one has waited this long, or when the batch is done. A slow
# receiver then never holds up the bookkeeping of the fast ones.
_FLUSH_ROWS = 100
_FLUSH_SECONDS = 0.1


def delivery_send_due(
    *, limit: int | None = None, now: datetime | None = None, clock: Callable[[], datetime] = timezone.now,
    rand: Callable[[], float] = random.random, on_full: Callable[[], None] | None = None,
) -> BatchReport:
    """The dispatcher, for the current tenant schema: claim up to `limit` due
    deliveries in one statement and send them.

    Sends run on this process's send threads over kept-alive connections.
    Claims are marked started (`sent_seq = claim_seq`) a window at a time,
    just before they go to the threads; results are recorded in bulk as they
    arrive, each only if its claim is still ours. A send starts only while its
    whole timeout fits in the lease, so the lease never runs out under a live
    attempt; claims that no longer fit are handed back unsent. `on_full`
    runs right after a full batch is claimed (the task queues a sibling so
    another worker process helps with the backlog).
    """
    limit = limit or settings.WEBHOOKS_BATCH_SIZE
    claimed_at = now or clock()
    start_before = (
        time.monotonic() + settings.WEBHOOKS_LEASE_SECONDS - settings.WEBHOOKS_TIMEOUT_SECONDS
        - settings.WEBHOOKS_LEASE_MARGIN_SECONDS
    )
    jobs, full = _claim_batch(now=claimed_at, limit=limit)
    if full and on_full is not None:
        on_full()
    if not jobs:
        return BatchReport(0, 0, 0, full)
    pool, executor = _sender_runtime()
    # Up to two sends per thread are started (marked) at once, topped up in
    # groups when half have finished: a group costs one statement, and a
    # dying process leaves at most `window` started claims behind.
    threads = settings.WEBHOOKS_SEND_THREADS
    window = 2 * threads
    health = _Health()
    for job in jobs:
        health.track(job.taken.endpoint)
    unstarted = list(reversed(jobs))  # popped from the end: claim order
    late: list[_Job] = []
    disabled: list[_Job] = []

    def run(job: _Job) -> _Outcome | _Job:
        if time.monotonic() > start_before:
            return job  # waited too long for a thread (another batch in this process): hand back
        return _send(job, pool=pool, clock=clock, now=now)

    in_flight: set[Future] = set()
    buffer: list[_Outcome] = []
    oldest = 0.0
    recorded = 0
    while unstarted or in_flight:
        if unstarted and len(in_flight) <= threads:
            if time.monotonic() > start_before:
                late.extend(reversed(unstarted))
                unstarted = []
            else:
                group: list[_Job] = []
                while unstarted and len(group) + len(in_flight) < window:
                    job = unstarted.pop()
                    (disabled if job.taken.endpoint.pk in health.disabled else group).append(job)
                if group:
                    ours = _mark_started(group, now=now or clock())
                    in_flight |= {executor.submit(run, job) for job in group if job.delivery_id in ours}
                continue
        if not in_flight:
            continue
        timeout = None if not buffer else max(0.0, oldest + _FLUSH_SECONDS - time.monotonic())
        if unstarted:
            timeout = 0.05 if timeout is None else min(timeout, 0.05)  # re-check the window soon
        done, in_flight = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            outcome = future.result()
            if isinstance(outcome, _Job):
                late.append(outcome)
                continue
            if not buffer:
                oldest = time.monotonic()
            buffer.append(outcome)
        if buffer and (
            (not in_flight and not unstarted) or len(buffer) >= _FLUSH_ROWS or time.monotonic() - oldest >= _FLUSH_SECONDS
        ):
            recorded += sum(a is not None for a in _record_results(buffer, health=health, rand=rand))
            buffer = []
    if buffer:
        recorded += sum(a is not None for a in _record_results(buffer, health=health, rand=rand))
    _claims_update(_FAIL_DISABLED_SQL, disabled, now or clock())
    _claims_update(_RELEASE_SQL, late)
    if late:
        log.warning("webhook dispatch: %d claims handed back unsent (the batch outran its lease)", len(late))
    return BatchReport(len(jobs), recorded, len(late) + len(disabled), full)


def _claim_batch(*, now: datetime, limit: int) -> tuple[list[_Job], bool]:
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
    secrets_cache: dict = {}
    jobs = [
        _job(delivery_id=row[0], claim_seq=row[2], taken=_taken_from_row(row), now=now, secrets_cache=secrets_cache)
        for row in rows if row[2] is not None
    ]
    return jobs, len(rows) >= limit


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


RESEND_LIMIT = 500  # deliveries one "resend all failed since T" queues; run it again for more


def delivery_resend_failed(
    *, since: datetime, actor: Actor, event_type: str = "", endpoint: WebhookEndpoint | None = None,
    limit: int = RESEND_LIMIT, now: datetime | None = None,
) -> int:
    """Replay dead-lettered deliveries that failed at or after `since`, across
    endpoints (or one), oldest first, at most `limit`: one manual attempt
    each, as delivery_replay. Deliveries of disabled endpoints stay failed
    (enable the endpoint first). Returns how many were queued; one audit
    event names them."""
    now = now or timezone.now()
    limit = max(1, min(limit, RESEND_LIMIT))
    with transaction.atomic():
        rows = list(
            resendable_failed(since=since, event_type=event_type, endpoint=endpoint)
            .select_for_update(of=("self",), skip_locked=True).values_list("pk", "public_id")[:limit]
        )
        count = Delivery.objects.filter(pk__in=[pk for pk, _ in rows], status=Delivery.Status.FAILED).update(
            status=Delivery.Status.PENDING, next_attempt_at=now, next_trigger=Delivery.Trigger.MANUAL,
            final_after_next=True, leased_until=None,
        )
        audit_record(
            actor=actor, action="webhook_delivery.resend_failed", target_type="webhook_endpoint",
            target_id=endpoint.public_id if endpoint is not None else "*",
            metadata={"since": since.isoformat(), "event_type": event_type, "deliveries_queued": count,
                      "limit": limit, "deliveries": [public_id for _, public_id in rows]},
        )
        if count:
            dispatch_kick_on_commit()
    return count
