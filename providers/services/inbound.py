"""Inbound provider deliveries: store every one, apply each provider event
at most once.

Receiving (the HTTP view) only verifies, parses and stores: one INSERT, then
a 2xx. Applying happens in a Celery task in the tenant's schema
(providers.tasks), in one transaction that locks the delivery row, calls a
ledger service (entry_post, hold_capture, entry_reverse) under an
idempotency key derived from (provider, event id), and records the outcome
on the row. The ledger's posting boundary is what makes N deliveries of one
event one transition: the first claims the key and posts, the others wait
for it on the key's UNIQUE index and replay, and because the delivery's
status commits in the same transaction as the posting, a replaying delivery
always sees the delivery that applied the event.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from core import errors as core_errors
from ledger.locks import lock_entry
from ledger.models import EntryKind, Hold, IdempotencyRecord, LedgerEntry
from ledger.services.boundary import BoundaryOutcome, request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post
from ledger.services.holds import hold_capture
from ledger.services.reversals import entry_reverse, reversal_state
from core.tasks import task_send
from core.tenancy import for_each_active_tenant
from core.transactions import retry_on_conflict
from tenants.selectors import tenant_current
from tenants.services.limits import rate_limit_add
from providers.errors import (
    InboundDeliveryNotFound, InboundEventInvalid, InboundNotReplayable, SignatureMismatch, SignatureMissing,
    SignatureStale,
)
from providers.mapping import Intent, RuleValueError, intent_build, path_get
from providers.models import InboundDelivery, InboundStatus, Provider, SignatureResult
from providers.services.providers import provider_secrets
from providers.signatures import verify
from core.api import has_nul, json_loads_bounded

log = logging.getLogger("zentra.inbound")

# Never stored: credentials a proxy or a misconfigured sender may add.
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
MAX_HEADERS, MAX_HEADER_VALUE = 60, 2000
EVENT_ID_MAX = 200  # "inbound:<slug ≤ 40>:<id>" fits the 255-character idempotency key
DECISION_HISTORY = 20
SWEEP_BATCH = 500
MAX_ATTEMPTS = 12  # received rows whose task keeps crashing end failed
APPLY_FIELDS = ["status", "reason", "decisions", "entry", "applied_by", "waiting_for", "attempts",
                "last_attempt_at", "next_attempt_at", "applied_at"]


@dataclass(frozen=True)
class Received:
    delivery: InboundDelivery | None  # None: refused and not stored (see inbound_receive)
    error: core_errors.ZentraError | None  # the 4xx to answer; None → 2xx


def provider_actor(provider: Provider) -> Actor:
    return Actor.system(f"inbound:{provider.slug}")


def ledger_key(provider: Provider, event_id: str) -> str:
    """The posting boundary of a provider event."""
    return f"inbound:{provider.slug}:{event_id}"


def _parse(body: bytes) -> Any:
    try:
        payload = json_loads_bounded(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise core_errors.MalformedJSON(f"The body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise core_errors.MalformedJSON("The body must be a JSON object.")
    if has_nul(payload):
        # PostgreSQL jsonb cannot hold \u0000.
        raise core_errors.MalformedJSON("The body may not contain NUL (\\u0000) characters.")
    return payload


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _identity(provider: Provider, payload: dict) -> tuple[str, str]:
    event_id = path_get(payload, provider.mapping.get("event_id", "id"))
    event_type = path_get(payload, provider.mapping.get("event_type", "type"))
    if not isinstance(event_id, str) or not (0 < len(event_id) <= EVENT_ID_MAX) or \
            not all("\x21" <= c <= "\x7e" for c in event_id):
        raise InboundEventInvalid(f"The event id (at '{provider.mapping.get('event_id')}') must be 1-{EVENT_ID_MAX} "
                                  "printable ASCII characters without spaces.")
    if not isinstance(event_type, str) or not (0 < len(event_type) <= 120) or \
            not all("\x21" <= c <= "\x7e" for c in event_type):
        raise InboundEventInvalid(f"The event type (at '{provider.mapping.get('event_type')}') must be 1-120 "
                                  "printable ASCII characters without spaces.")
    return event_id, event_type


# What evidence of an unsigned delivery keeps: who sent it and what it claimed.
EVIDENCE_HEADERS = ("content-type", "content-length", "user-agent", "x-forwarded-for", "stripe-signature",
                    "webhook-id", "webhook-timestamp", "webhook-signature")
EVIDENCE_HEADER_VALUE = 500
PURGE_BATCH = 1000


def _evidence_headers(headers: dict[str, str]) -> dict[str, str]:
    lower = {str(k).lower(): v for k, v in list(headers.items())[:MAX_HEADERS]}
    return {name: str(lower[name])[:EVIDENCE_HEADER_VALUE].replace("\x00", "")
            for name in EVIDENCE_HEADERS if name in lower}


def _kept_headers(headers: dict[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in list(headers.items())[:MAX_HEADERS]:
        if name.lower() in SECRET_HEADERS:
            continue
        kept[name.lower()[:200]] = str(value)[:MAX_HEADER_VALUE].replace("\x00", "")
    return kept


_SIGNATURE_ERRORS = {
    SignatureResult.MISSING: SignatureMissing, SignatureResult.MALFORMED: SignatureMissing,
    SignatureResult.MISMATCH: SignatureMismatch, SignatureResult.STALE: SignatureStale,
}


def inbound_receive(
    *, provider: Provider, headers: dict[str, str], body: bytes, remote_ip: str | None = None,
    now: datetime | None = None,
) -> Received:
    """Verify, parse and store one delivery; never applies anything itself.

    Stored whatever happens (a forged or stale delivery too, as evidence),
    with the status the answer reflects: rejected (4xx), ignored (no rule
    for the type: 2xx, see docs/inbound.md), or received (2xx, queued).
    The receiver needs no key, so anyone can send it bodies: a delivery
    whose signature fails keeps only its evidence (hash, size, the first
    INBOUND_REJECTED_BODY_PREFIX_BYTES, sender headers), and past
    INBOUND_REJECTED_STORED_BYTES_PER_MINUTE of such evidence for this
    provider in a minute it is refused the same way and only logged
    (delivery None). Signed deliveries are always stored whole."""
    now = now or timezone.now()
    lower = {k.lower(): v for k, v in headers.items()}
    check = verify(provider=provider, headers=lower, body=body, secrets=provider_secrets(provider, now=now),
                   now=int(now.timestamp()))
    payload, event_id, event_type, error = None, "", "", None
    status, reason = InboundStatus.RECEIVED, ""
    stored_body, kept_headers = body, None
    if not check.ok:
        error = _SIGNATURE_ERRORS[check.result](f"Signature {check.result}: {check.detail}.")
        stored_body = body[:settings.INBOUND_REJECTED_BODY_PREFIX_BYTES]
        kept_headers = _evidence_headers(headers)
        cost = len(stored_body) + len(json.dumps(kept_headers)) + len(remote_ip or "")
        added = rate_limit_add(bucket=f"inbound-rejected-bytes:{connection.schema_name}:{provider.slug}",
                               amount=cost)
        if added is not None and added[0] > settings.INBOUND_REJECTED_STORED_BYTES_PER_MINUTE:
            log.warning("inbound %s: signature %s from %s not stored (%d bytes of failed signatures this minute)",
                        provider.slug, check.result, remote_ip or "-", added[0])
            return Received(delivery=None, error=error)
    else:
        try:
            payload = _parse(body)
            event_id, event_type = _identity(provider, payload)
        except (core_errors.MalformedJSON, core_errors.PayloadTooDeep, InboundEventInvalid) as exc:
            error = exc
    if error is not None:
        status, reason = InboundStatus.REJECTED, f"{error.code}: {error.detail}"
    elif event_type not in provider.mapping.get("rules", {}):
        status, reason = InboundStatus.IGNORED, f"no rule for event type '{event_type}'"
    with transaction.atomic():
        delivery = InboundDelivery.objects.create(
            provider=provider, remote_ip=remote_ip,
            headers=kept_headers if kept_headers is not None else _kept_headers(headers), body=stored_body,
            body_sha256=hashlib.sha256(body).hexdigest(), body_size=len(body), payload=payload, signature_result=check.result,
            signature_detail=check.detail[:300], event_id=event_id, event_type=event_type, status=status,
            reason=reason[:1000], ledger_key=ledger_key(provider, event_id) if event_id else "",
            # The sweep's deadline: a task lost with Redis is picked up after this.
            next_attempt_at=now + timedelta(seconds=settings.INBOUND_SWEEP_GRACE_SECONDS)
            if status == InboundStatus.RECEIVED else None,
        )
        if status == InboundStatus.RECEIVED:
            apply_on_commit(delivery.id)
    log.info("inbound %s %s %s %s %s", provider.slug, delivery.public_id, event_type or "-", status,
             reason or check.result)
    if error is not None:
        error.extra["delivery_id"] = delivery.public_id
    return Received(delivery=delivery, error=error)


# --- enqueueing -----------------------------------------------------------------
def _send(task_name: str, **kwargs) -> None:
    schema = connection.schema_name

    def send() -> None:
        # retry=False: with Redis down this fails fast and the beat sweep
        # applies the row later; the provider already has its 2xx.
        task_send(task_name, kwargs=kwargs, retry=False, headers={"_schema_name": schema})

    transaction.on_commit(send, robust=True)


def apply_on_commit(delivery_id: int) -> None:
    _send("providers.apply", delivery_id=delivery_id)


def retry_waiting_on_commit(provider_id: int, reference: str) -> None:
    _send("providers.retry_waiting", provider_id=provider_id, reference=reference)


# --- applying -------------------------------------------------------------------
def _tenant_slug() -> str:
    # The task runs under schema_context(): the stand-in tenant has no slug,
    # and the posted body must name the tenant as the API does.
    tenant = tenant_current()
    return tenant.slug if tenant is not None else connection.schema_name


def _decide(d: InboundDelivery, now: datetime, decision: str, detail: str, actor: Actor, **extra) -> None:
    entry = {"at": now.isoformat(), "decision": decision, "detail": detail[:500], "actor": actor.ref, **extra}
    d.decisions = (list(d.decisions or []) + [entry])[-DECISION_HISTORY:]


def _waiting_backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(settings.INBOUND_WAIT_RETRY_SECONDS * 2 ** max(0, attempts - 1), 3600))


class _Wait(Exception):
    def __init__(self, reference: str, detail: str):
        self.reference, self.detail = reference, detail
        super().__init__(detail)


class _Covered(Exception):
    """A cumulative refund already covered by earlier reversals: nothing to post."""


def _run_rule(d: InboundDelivery, intent: Intent, actor: Actor, req_hash: str) -> BoundaryOutcome:
    provider = d.provider
    common = {"actor": actor, "tenant": _tenant_slug(), "idempotency_key": d.ledger_key, "req_hash": req_hash}
    source = f"{provider.slug}:{d.event_id}"
    description = intent.description or f"{provider.slug} {d.event_type} {d.event_id}"
    metadata = {"provider": provider.slug, "provider_event_id": d.event_id, "provider_event_type": d.event_type,
                "inbound_delivery": d.public_id}
    claimed = IdempotencyRecord.objects.filter(key=d.ledger_key).exists()
    if intent.action == "reverse":
        original = (LedgerEntry.objects.filter(external_reference=intent.original_reference)
                    .exclude(kind=EntryKind.REVERSAL).order_by("id").first())
        if original is None:
            raise _Wait(intent.original_reference,
                        f"waiting for the entry with external reference '{intent.original_reference}'")
        amount = intent.amount_minor
        if amount is not None and intent.amount_is_cumulative and not claimed:
            # Two refunds of one charge applied at once (two worker processes)
            # must not both read "nothing reversed yet": the entry's row lock,
            # the one entry_reverse takes, queues them before the read.
            lock_entry(original.id)
            amount -= reversal_state(original)["reversed_minor"]
            if amount <= 0:
                raise _Covered(f"earlier reversals of {original.posting_id} already cover {intent.amount_minor}")
        return entry_reverse(**common, entry_id=original.id, amount_minor=amount,
                             external_reference=intent.reference or intent.original_reference,
                             description=description, metadata=metadata)
    if intent.action == "capture_or_post":
        hold = None
        if intent.hold_id:
            hold = Hold.objects.filter(hold_id=intent.hold_id).first()
        if hold is None and intent.reference:
            hold = Hold.objects.filter(external_reference=intent.reference).order_by("id").first()
        if hold is not None:
            if hold.currency != intent.currency:
                raise errors.CurrencyMismatch(f"Hold {hold.hold_id} is in {hold.currency}; the event is in "
                                              f"{intent.currency}.")
            return hold_capture(**common, hold_id=hold.id, amount_minor=intent.amount_minor,
                                destination=None if hold.destination_id else intent.credit,
                                external_reference=intent.reference, description=description, metadata=metadata)
    lines = [LineSpec(account=intent.debit, side="debit", amount_minor=intent.amount_minor, currency=intent.currency),
             LineSpec(account=intent.credit, side="credit", amount_minor=intent.amount_minor, currency=intent.currency)]
    return entry_post(**common, lines=lines, external_reference=intent.reference, source_event=source,
                      description=description, metadata=metadata)


def _finish(d: InboundDelivery, status: str, reason: str, now: datetime) -> None:
    d.status, d.reason = status, reason[:1000]
    if status != InboundStatus.WAITING:
        d.next_attempt_at = None


def _apply_locked(d: InboundDelivery, *, actor: Actor, now: datetime, manual: bool) -> Intent | None:
    """Decide and record this delivery's outcome; returns the intent when a
    ledger transition was posted (its reference may unblock waiting events)."""
    provider = d.provider
    d.attempts += 1
    d.last_attempt_at = now
    rule = provider.mapping.get("rules", {}).get(d.event_type)
    if rule is None:
        _finish(d, InboundStatus.IGNORED if d.status == InboundStatus.IGNORED else InboundStatus.FAILED,
                f"no rule for event type '{d.event_type}'", now)
        _decide(d, now, "no_rule", d.reason, actor)
        return None
    try:
        intent = intent_build(rule, d.payload)
    except RuleValueError as exc:
        _finish(d, InboundStatus.FAILED, f"rule_value_missing: {exc}", now)
        _decide(d, now, "failed", d.reason, actor)
        return None
    req_hash = request_hash(operation="inbound", payload={
        "provider": provider.slug, "event_id": d.event_id, "event_type": d.event_type, **intent.fingerprint()})
    try:
        outcome = _run_rule(d, intent, actor, req_hash)
    except _Wait as wait:
        if now - d.received_at > timedelta(seconds=provider.max_wait_seconds):
            _finish(d, InboundStatus.FAILED, f"prerequisite_missing: {wait.detail}; gave up after "
                                             f"{provider.max_wait_seconds} s", now)
            _decide(d, now, "failed", d.reason, actor)
        else:
            d.status, d.reason, d.waiting_for = InboundStatus.WAITING, wait.detail, wait.reference[:255]
            d.next_attempt_at = now + _waiting_backoff(d.attempts)
            _decide(d, now, "waiting", wait.detail, actor)
        return None
    except _Covered as covered:
        _finish(d, InboundStatus.DUPLICATE, f"already_covered: {covered}", now)
        _decide(d, now, "covered", str(covered), actor)
        return None
    except core_errors.IdempotencyKeyInUse:
        raise  # the original is still posting: roll back, retry later
    except core_errors.ZentraError as exc:
        _finish(d, InboundStatus.FAILED, f"{exc.code}: {exc.detail}", now)
        _decide(d, now, "failed", d.reason, actor)
        return None
    d.entry_id = outcome.entry_id
    if not outcome.replayed:
        if outcome.is_problem:  # a policy rejection, remembered under the key
            _finish(d, InboundStatus.FAILED, f"{outcome.body.get('code')}: {outcome.body.get('detail')}", now)
            _decide(d, now, "rejected_by_policy", d.reason, actor, key=d.ledger_key)
            return None
        _finish(d, InboundStatus.APPLIED, "", now)
        d.applied_at = now
        _decide(d, now, "posted", f"new transition under {d.ledger_key}", actor, entry_id=outcome.entry_id)
        return intent
    first = (InboundDelivery.objects.filter(provider=provider, event_id=d.event_id, status=InboundStatus.APPLIED)
             .exclude(pk=d.pk).order_by("id").first())
    if d.status == InboundStatus.APPLIED:
        _decide(d, now, "replayed", "re-applied by hand: the posting boundary replayed, nothing new was posted",
                actor, entry_id=outcome.entry_id)
    elif outcome.is_problem:
        _finish(d, InboundStatus.FAILED, f"{outcome.body.get('code')}: {outcome.body.get('detail')} (replayed)", now)
        _decide(d, now, "replayed_rejection", d.reason, actor)
    elif first is not None:
        _finish(d, InboundStatus.DUPLICATE, f"event already applied by {first.public_id}", now)
        d.applied_by = first
        _decide(d, now, "replayed", f"duplicate of {first.public_id}: the boundary replayed {d.ledger_key}",
                actor, entry_id=outcome.entry_id)
    else:
        # The key was posted but no delivery says so (e.g. the same key posted
        # by hand through the API): this delivery stands for the event.
        _finish(d, InboundStatus.APPLIED, "", now)
        d.applied_at = now
        _decide(d, now, "replayed", f"{d.ledger_key} was already posted; recorded as applied", actor,
                entry_id=outcome.entry_id)
    return None


@retry_on_conflict
def inbound_apply(*, delivery_id: int, actor: Actor | None = None, manual: bool = False,
                  now: datetime | None = None) -> InboundDelivery:
    """Apply one stored delivery (safe to run any number of times)."""
    now = now or timezone.now()
    with transaction.atomic():
        d = (InboundDelivery.objects.select_for_update(of=("self",)).select_related("provider")
             .filter(pk=delivery_id).first())
        if d is None:
            raise InboundDeliveryNotFound("No such inbound delivery.")
        if manual:
            if d.status == InboundStatus.REJECTED:
                raise InboundNotReplayable(
                    f"Delivery {d.public_id} was rejected ({d.reason}); it is never applied. Have the provider "
                    "send the event again.", delivery_id=d.public_id)
            if d.status == InboundStatus.IGNORED and d.event_type not in d.provider.mapping.get("rules", {}):
                raise InboundNotReplayable(f"No rule for event type '{d.event_type}' yet; add one to the provider's "
                                           "mapping first.", delivery_id=d.public_id)
        elif d.status not in (InboundStatus.RECEIVED, InboundStatus.WAITING):
            return d
        before, before_reason, before_entry = d.status, d.reason, d.entry_id
        actor = actor or provider_actor(d.provider)
        posted = _apply_locked(d, actor=actor, now=now, manual=manual)
        done = (InboundStatus.APPLIED, InboundStatus.DUPLICATE)
        if before in done and d.status not in done:
            # The event's transition exists; a replay after the mapping
            # changed may not re-derive it, but must not un-apply it. The
            # decision log keeps what the replay found.
            d.status, d.reason, d.entry_id = before, before_reason, before_entry
        d.save(update_fields=APPLY_FIELDS)  # not the body: it never changes
        if manual or d.status in (InboundStatus.APPLIED, InboundStatus.FAILED) and d.status != before:
            audit_record(
                actor=actor, action="inbound.replay" if manual else f"inbound.{d.status}",
                target_type="inbound_delivery", target_id=d.public_id,
                before={"status": before}, after={"status": d.status, "reason": d.reason},
                metadata={"provider": d.provider.slug, "event_id": d.event_id, "event_type": d.event_type,
                          "idempotency_key": d.ledger_key, "entry_id": d.entry_id},
            )
        if posted is not None and posted.reference and InboundDelivery.objects.filter(
                status=InboundStatus.WAITING, waiting_for=posted.reference).exists():
            # Events that waited for this one (a refund for this payment) go
            # next, in arrival order. One that is only now being marked
            # waiting, concurrently, is not seen here: the sweep re-tries it.
            retry_waiting_on_commit(d.provider_id, posted.reference)
    return d


def inbound_replay(*, delivery: InboundDelivery, actor: Actor) -> InboundDelivery:
    """The console/API replay button: re-apply through the same boundary, so
    an applied event replays and nothing posts twice."""
    return inbound_apply(delivery_id=delivery.id, actor=actor, manual=True)


def inbound_retry_waiting(*, provider_id: int | None = None, reference: str | None = None,
                          now: datetime | None = None, due_only: bool = False) -> int:
    """Re-try waiting deliveries in the order they arrived."""
    now = now or timezone.now()
    qs = InboundDelivery.objects.filter(status=InboundStatus.WAITING)
    if provider_id is not None:
        qs = qs.filter(provider_id=provider_id)
    if reference is not None:
        qs = qs.filter(waiting_for=reference)
    if due_only:
        qs = qs.filter(next_attempt_at__lte=now)
    done = 0
    for delivery_id in qs.order_by("id").values_list("id", flat=True)[:SWEEP_BATCH]:
        try:
            inbound_apply(delivery_id=delivery_id, now=now)
            done += 1
        except core_errors.IdempotencyKeyInUse:
            continue
    return done


def inbound_sweep_tenant(*, now: datetime | None = None) -> dict[str, int]:
    """Everything left behind in this tenant: received rows whose task was
    lost (Redis down, worker killed), and waiting rows that are due."""
    now = now or timezone.now()
    stale = list(InboundDelivery.objects.filter(status=InboundStatus.RECEIVED, next_attempt_at__lte=now)
                 .order_by("id").values_list("id", "attempts")[:SWEEP_BATCH])
    applied = 0
    for delivery_id, attempts in stale:
        if attempts >= MAX_ATTEMPTS:
            with transaction.atomic():
                InboundDelivery.objects.filter(pk=delivery_id, status=InboundStatus.RECEIVED).update(
                    status=InboundStatus.FAILED, next_attempt_at=None,
                    reason=f"apply_crashed: could not be applied after {attempts} attempts; see the worker log")
            continue
        # Push the deadline first, so a delivery whose apply crashes is not
        # hammered on every sweep.
        InboundDelivery.objects.filter(pk=delivery_id).update(
            attempts=attempts + 1, next_attempt_at=now + _waiting_backoff(attempts + 1))
        try:
            inbound_apply(delivery_id=delivery_id, now=now)
            applied += 1
        except core_errors.IdempotencyKeyInUse:
            continue
        except Exception:  # noqa: BLE001 - one poison delivery must not stop the sweep
            log.exception("inbound apply failed for delivery %s", delivery_id)
    waited = inbound_retry_waiting(now=now, due_only=True)
    return {"received": applied, "waiting": waited}


def inbound_sweep_all(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """The beat job: every active tenant."""
    now = now or timezone.now()

    def sweep(tenant) -> dict[str, int] | None:
        if InboundDelivery.objects.filter(status__in=[InboundStatus.RECEIVED, InboundStatus.WAITING],
                                          next_attempt_at__lte=now).exists():
            return inbound_sweep_tenant(now=now)
        return None

    out = {slug: n for slug, n in for_each_active_tenant(sweep, what="inbound sweep").items() if n is not None}
    return out


# --- retention --------------------------------------------------------------------
def inbound_rejected_purge(*, actor: Actor, now: datetime | None = None) -> int:
    """Delete this tenant's rejected deliveries older than
    INBOUND_REJECTED_RETENTION_DAYS; one audit event when any went. Rejected
    rows never became ledger transitions and nothing references them."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.INBOUND_REJECTED_RETENTION_DAYS)
    deleted = 0
    with transaction.atomic():
        while True:
            ids = list(InboundDelivery.objects.filter(status=InboundStatus.REJECTED, received_at__lt=cutoff)
                       .order_by("id").values_list("id", flat=True)[:PURGE_BATCH])
            if not ids:
                break
            deleted += InboundDelivery.objects.filter(id__in=ids).delete()[0]
        if deleted:
            audit_record(actor=actor, action="inbound.rejected_purged", target_type="inbound_delivery",
                         target_id="rejected", metadata={"deleted": deleted, "received_before": cutoff.isoformat(),
                                                         "retention_days": settings.INBOUND_REJECTED_RETENTION_DAYS})
    return deleted


def inbound_rejected_purge_all(*, now: datetime | None = None) -> dict[str, int]:
    """The beat job: every active tenant; {tenant slug: rows deleted}."""
    actor = Actor.system("retention")
    return for_each_active_tenant(lambda tenant: inbound_rejected_purge(actor=actor, now=now),
                                  what="rejected-delivery purge")
