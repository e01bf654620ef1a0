"""Sending: the dispatcher (delivery_send_due) claims a batch and sends it
on this process's threads over kept-alive connections, recording results as
they arrive; and what each send needs: the body, the secrets that sign it,
the request."""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.signing import secret_decrypt, signature_header
from events.models import Event
from webhooks.models import WebhookEndpoint
from webhooks.sender import SenderPool, SendResult
from webhooks.services.claims import claim_batch, claims_fail_disabled, claims_release, mark_started
from webhooks.services.jobs import Claim, Job, Outcome
from webhooks.services.recording import Health, record_results

log = logging.getLogger("zentra.webhooks")

USER_AGENT = "Zentra-Webhooks/1.0"


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
    claims, full = claim_batch(now=claimed_at, limit=limit)
    secrets_cache: dict = {}
    jobs = [_job(claim, now=claimed_at, secrets_cache=secrets_cache) for claim in claims]
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
    health = Health()
    for job in jobs:
        health.track(job.taken.endpoint)
    unstarted = list(reversed(jobs))  # popped from the end: claim order
    late: list[Job] = []
    disabled: list[Job] = []

    def run(job: Job) -> Outcome | Job:
        if time.monotonic() > start_before:
            return job  # waited too long for a thread (another batch in this process): hand back
        return _send(job, pool=pool, clock=clock, now=now)

    in_flight: set[Future] = set()
    buffer: list[Outcome] = []
    oldest = 0.0
    recorded = 0
    while unstarted or in_flight:
        if unstarted and len(in_flight) <= threads:
            if time.monotonic() > start_before:
                late.extend(reversed(unstarted))
                unstarted = []
            else:
                group: list[Job] = []
                while unstarted and len(group) + len(in_flight) < window:
                    job = unstarted.pop()
                    (disabled if job.taken.endpoint.pk in health.disabled else group).append(job)
                if group:
                    ours = mark_started(group, now=now or clock())
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
            if isinstance(outcome, Job):
                late.append(outcome)
                continue
            if not buffer:
                oldest = time.monotonic()
            buffer.append(outcome)
        if buffer and (
            (not in_flight and not unstarted) or len(buffer) >= _FLUSH_ROWS or time.monotonic() - oldest >= _FLUSH_SECONDS
        ):
            recorded += sum(a is not None for a in record_results(buffer, health=health, rand=rand))
            buffer = []
    if buffer:
        recorded += sum(a is not None for a in record_results(buffer, health=health, rand=rand))
    claims_fail_disabled(disabled, now=now or clock())
    claims_release(late)
    if late:
        log.warning("webhook dispatch: %d claims handed back unsent (the batch outran its lease)", len(late))
    return BatchReport(len(jobs), recorded, len(late) + len(disabled), full)


def _job(claim: Claim, *, now: datetime, secrets_cache: dict) -> Job:
    taken, endpoint = claim.taken, claim.taken.endpoint
    key = (endpoint.pk, endpoint.secret_encrypted, endpoint.previous_secret_encrypted)
    if key not in secrets_cache:
        secrets_cache[key] = signing_secrets(endpoint, now)
    return Job(claim.delivery_id, claim.claim_seq, taken, delivery_body(taken.event), secrets_cache[key])


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


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one while its rotation overlap lasts."""
    secrets = [secret_decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        secrets.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return secrets


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


def _send(job: Job, *, pool: SenderPool, clock: Callable[[], datetime], now: datetime | None) -> Outcome:
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
    return Outcome(job, result, started, finished)
