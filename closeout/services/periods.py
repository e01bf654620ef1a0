"""Accounting periods: naming, the closed-period rule for postings, and the
open -> closing -> closed life cycle (reopening by maker-checker).

The rule in one sentence: the books are closed through the `end_at` of the
latest period that is not open ("the watermark"); an entry dated before it is
refused (422 period_closed) or, by tenant policy, booked at the watermark
with its original date kept in `metadata.closeout`. Periods close and reopen
in date order, so the watermark is exactly the union of non-open periods.

Concurrency (docs/closeout.md "The race"): the entry trigger takes a SHARED
transaction advisory lock (core.locks.PERIOD, hashtext(schema)) before
it reads the watermark; open -> closing takes the same lock EXCLUSIVE (after
the period's row lock). So the transition waits for every posting that has
already inserted an entry, and every later posting waits for the transition
to commit and then reads the new watermark. The long work (the snapshot) is
done in `closing`, when the trigger already refuses the period, without the
lock: postings to later dates never wait for it.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from audit.services.chain import chain_seal
from closeout import errors
from closeout.presenters import period_body, reopen_body, settings_body
from closeout.selectors import (
    CLOSED_THROUGH_SQL, UTC, closed_through, period_bounds, period_covering, period_get, settings_get,
)
from closeout.services.snapshots import snapshot_take
from core import errors as core_errors
from closeout.models import (
    AccountingPeriod, CloseoutSettings, ClosedPeriodEntries, PeriodLength, PeriodReopenRequest, PeriodStatus,
    ReopenStatus,
)
from ledger.models import HOLD_OPEN_STATUSES, ApprovalRequest, ApprovalStatus, Hold, IdempotencyRecord, PolicyEpoch
from core.locks import PERIOD, tenant_lock
from core.transactions import retry_on_conflict
from events.services import event_emit
from ledger.closing import ClosedBooks

OPEN_ITEMS_LISTED = 50


# --- settings -----------------------------------------------------------------


def settings_update(*, actor: Actor, period_length: str | None = None,
                    closed_period_entries: str | None = None) -> CloseoutSettings:
    if period_length is not None and period_length not in PeriodLength.values:
        raise core_errors.ValidationFailed(f"period_length is one of {', '.join(PeriodLength.values)}.", field="period_length")
    if closed_period_entries is not None and closed_period_entries not in ClosedPeriodEntries.values:
        raise core_errors.ValidationFailed(f"closed_period_entries is one of {', '.join(ClosedPeriodEntries.values)}.",
                                 field="closed_period_entries")
    with transaction.atomic():
        current = CloseoutSettings.objects.select_for_update().filter(id=1).first() or CloseoutSettings(id=1)
        before = settings_body(current)
        if period_length is not None:
            current.period_length = period_length
        if closed_period_entries is not None:
            current.closed_period_entries = closed_period_entries
        current.updated_by = actor.ref
        current.save()
        audit_record(actor=actor, action="closeout.settings_updated", target_type="closeout_settings", target_id=1,
                     before=before, after=settings_body(current))
    return current


# --- names and bounds -----------------------------------------------------------


# --- reads used by the rule ---------------------------------------------------------


_UNREAD = object()


def period_effective_resolve(
    *, effective_at: dt.datetime, metadata: dict[str, Any] | None, idempotency_key: str | None = None,
    watermark: Any = _UNREAD,
) -> tuple[dt.datetime, dict[str, Any] | None]:
    """The friendly check before anything is written (entry_post calls it
    before the posting boundary's claim): an effective_at inside a closed
    period is refused with 422 period_closed, or, when the tenant's policy is
    `move_to_open`, moved to the start of the first open period with the
    original date kept as evidence in metadata.closeout.

    A key that already has an outcome passes through unchanged, so a retry
    of an entry posted before the close replays instead of being refused.
    The entry trigger re-checks under the period lock (the race)."""
    if watermark is _UNREAD:
        watermark = closed_through()
    if watermark is None or effective_at >= watermark:
        return effective_at, metadata
    if idempotency_key and IdempotencyRecord.objects.filter(key=idempotency_key).exists():
        return effective_at, metadata
    period = period_covering(effective_at)
    name = period.name if period else None
    if settings_get().closed_period_entries == ClosedPeriodEntries.MOVE_TO_OPEN:
        evidence = {"original_effective_at": effective_at.astimezone(UTC).isoformat(),
                    "moved_to": watermark.astimezone(UTC).isoformat(), "reason": "period_closed",
                    "closed_period": name, "policy": ClosedPeriodEntries.MOVE_TO_OPEN}
        return watermark, {**(metadata or {}), "closeout": evidence}
    raise errors.PeriodClosed(
        f"effective_at {effective_at.astimezone(UTC).isoformat()} falls in "
        + (f"closed period {name}" if name else "a closed part of the books")
        + f"; the books are closed through {watermark.astimezone(UTC).isoformat()}. "
        "Date the entry in an open period (or ask for the period to be reopened).",
        effective_at=effective_at.astimezone(UTC).isoformat(), period=name,
        closed_through=watermark.astimezone(UTC).isoformat(), field="effective_at",
    )


# --- periods -------------------------------------------------------------------------


def _overlaps(start: dt.datetime, end: dt.datetime, exclude: int | None = None) -> list[str]:
    qs = AccountingPeriod.objects.filter(start_at__lt=end, end_at__gt=start)
    if exclude:
        qs = qs.exclude(pk=exclude)
    return list(qs.order_by("start_at").values_list("name", flat=True)[:10])


def period_create(*, actor: Actor, name: str, start_at: dt.datetime, end_at: dt.datetime) -> AccountingPeriod:
    """A period with explicit bounds (or a named default one). Overlapping an
    existing period is 409 period_overlap; the database's exclusion
    constraint settles a race between two creators."""
    if not name or len(name) > 40 or name.startswith(("per_", "rop_")) or not re.match(r"^[\w.:-]+$", name):
        raise core_errors.ValidationFailed("name is 1-40 of letters, digits, _ . : - and does not start with per_.",
                                 field="name")
    if start_at.tzinfo is None or end_at.tzinfo is None:
        raise core_errors.ValidationFailed("start_at and end_at need a time zone.", field="start_at")
    if start_at >= end_at:
        raise core_errors.InvalidRange("start_at must be before end_at.", fields=["start_at", "end_at"])
    named = period_bounds(name)
    if named is not None and named != (start_at, end_at):
        raise core_errors.ValidationFailed(f"'{name}' names the period {named[0].isoformat()} - {named[1].isoformat()}; "
                                      "give a custom period another name.", field="name")
    if period_get(name) is not None:
        raise errors.PeriodOverlap(f"A period named '{name}' exists.", periods=[name])
    clash = _overlaps(start_at, end_at)
    if clash:
        raise errors.PeriodOverlap(f"[{start_at.isoformat()}, {end_at.isoformat()}) overlaps {', '.join(clash)}.",
                                   periods=clash)
    try:
        with transaction.atomic():
            period = AccountingPeriod.objects.create(name=name, start_at=start_at, end_at=end_at,
                                                     created_by=actor.ref)
            audit_record(actor=actor, action="period.created", target_type="accounting_period",
                         target_id=period.public_id, after=period_body(period))
    except IntegrityError as exc:
        if getattr(exc.__cause__, "sqlstate", None) in ("23P01", "23505"):  # exclusion / unique: lost a race
            raise errors.PeriodOverlap(f"[{start_at.isoformat()}, {end_at.isoformat()}) overlaps another period.",
                                       periods=_overlaps(start_at, end_at)) from exc
        raise
    return period


def period_ensure(*, actor: Actor, ref: str) -> AccountingPeriod:
    """The stored period `ref` names; a default name ('2026-01', '2026-Q1',
    '2026') that is not stored yet is created on first use."""
    period = period_get(ref)
    if period is not None:
        return period
    bounds = period_bounds(str(ref))
    if bounds is None:
        raise errors.PeriodNotFound(f"No period '{ref}' (name one like 2026-01, 2026-Q1 or 2026, or a per_ id).")
    try:
        return period_create(actor=actor, name=str(ref), start_at=bounds[0], end_at=bounds[1])
    except errors.PeriodOverlap:
        existing = period_get(ref)  # a concurrent first use created it
        if existing is not None:
            return existing
        raise


def _lock_period(ref: str, actor: Actor) -> AccountingPeriod:
    period = period_ensure(actor=actor, ref=ref)
    return AccountingPeriod.objects.select_for_update().get(pk=period.pk)


def _take_period_lock() -> None:
    if settings.CITUS:
        # The posting trigger takes its shared lock on the node that holds
        # the tenant's tables; a bare SELECT would lock the coordinator, and
        # the two would never meet. Filtering the tenant's one epoch row by
        # the lock routes the statement, and the lock, to that node, on the
        # connection the rest of this transaction uses there.
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {PolicyEpoch._meta.db_table} WHERE id = 1"
                        " AND pg_advisory_xact_lock(%s, hashtext(%s))::text = ''",
                        [PERIOD.klass, connection.schema_name])
        return
    tenant_lock(PERIOD)


def _open_items(period: AccountingPeriod) -> dict[str, Any]:
    """What would be left hanging across the period end: approval requests
    still pending that were asked for before it ended, and holds created
    before it ended that are still open."""
    approvals = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, requested_at__lt=period.end_at)
    holds = Hold.objects.filter(status__in=HOLD_OPEN_STATUSES, created_at__lt=period.end_at)
    reopen = PeriodReopenRequest.objects.filter(status=ReopenStatus.PENDING)
    return {
        "pending_approvals": list(approvals.order_by("requested_at").values_list("public_id", flat=True)[:OPEN_ITEMS_LISTED]),
        "pending_approvals_count": approvals.count(),
        "open_holds": list(holds.order_by("created_at").values_list("hold_id", flat=True)[:OPEN_ITEMS_LISTED]),
        "open_holds_count": holds.count(),
        "pending_reopen_requests": list(reopen.values_list("public_id", flat=True)[:OPEN_ITEMS_LISTED]),
    }


def _emit(actor: Actor, event_type: str, period: AccountingPeriod, action: str, before: dict | None,
          metadata: dict | None = None) -> None:
    after = period_body(period)
    audit_record(actor=actor, action=action, target_type="accounting_period", target_id=period.public_id,
                 before=before, after=after, metadata=metadata)
    event_emit(type=event_type, payload=after | (metadata or {}), actor=actor)


@retry_on_conflict
def period_begin_closing(*, actor: Actor, ref: str) -> AccountingPeriod:
    """open -> closing: from now on the trigger refuses entries dated inside
    (or before) the period. Refused while the period has not ended, while an
    earlier stored period is still open, or while pending approvals or open
    holds straddle its end (the error lists them)."""
    with transaction.atomic():
        period = _lock_period(ref, actor)
        if period.status != PeriodStatus.OPEN:
            raise errors.PeriodInvalidTransition(f"Period {period.name} is {period.status}, not open.",
                                                 period=period.name, period_status=period.status)
        now = timezone.now()
        if period.end_at > now:
            raise errors.PeriodNotEnded(f"Period {period.name} ends at {period.end_at.isoformat()}; "
                                        "it can be closed after that.", period=period.name)
        earlier = list(AccountingPeriod.objects.filter(end_at__lte=period.start_at, status=PeriodStatus.OPEN)
                       .order_by("start_at").values_list("name", flat=True)[:OPEN_ITEMS_LISTED])
        if earlier:
            raise errors.PeriodOutOfOrder(f"Close the earlier open periods first: {', '.join(earlier)}.",
                                          period=period.name, open_earlier=earlier)
        items = _open_items(period)
        if items["pending_approvals_count"] or items["open_holds_count"] or items["pending_reopen_requests"]:
            parts = []
            if items["pending_approvals_count"]:
                parts.append(f"{items['pending_approvals_count']} pending approval(s): "
                             + ", ".join(items["pending_approvals"][:5]))
            if items["open_holds_count"]:
                parts.append(f"{items['open_holds_count']} open hold(s) created before the period end: "
                             + ", ".join(items["open_holds"][:5]))
            if items["pending_reopen_requests"]:
                parts.append("a pending reopen request: " + ", ".join(items["pending_reopen_requests"]))
            raise errors.PeriodHasOpenItems(
                f"Period {period.name} cannot close while " + "; ".join(parts)
                + ". Decide the approvals and capture, release or let the holds expire first.",
                period=period.name, **items)
        # Wait out postings that already inserted an entry; postings after
        # this wait for our commit and then see the period as closing.
        _take_period_lock()
        before = period_body(period)
        period.status, period.closing_at, period.closing_by = PeriodStatus.CLOSING, now, actor.ref
        period.save(update_fields=["status", "closing_at", "closing_by"])
        _emit(actor, "period.closing", period, "period.closing", before)
    return period


@retry_on_conflict
def _period_finish_close(*, actor: Actor, ref: str) -> AccountingPeriod:
    with transaction.atomic():
        period = _lock_period(ref, actor)
        if period.status != PeriodStatus.CLOSING:
            raise errors.PeriodInvalidTransition(f"Period {period.name} is {period.status}, not closing.",
                                                 period=period.name, period_status=period.status)
        earlier = list(AccountingPeriod.objects.filter(end_at__lte=period.start_at)
                       .exclude(status=PeriodStatus.CLOSED).order_by("start_at").values_list("name", flat=True))
        if earlier:
            raise errors.PeriodOutOfOrder(f"Close the earlier periods first: {', '.join(earlier)}.",
                                          period=period.name, not_closed_earlier=earlier)
        before = period_body(period)
        snap = snapshot_take(period=period, actor=actor)
        period.status, period.closed_at, period.closed_by, period.snapshot = (
            PeriodStatus.CLOSED, timezone.now(), actor.ref, snap)
        period.save(update_fields=["status", "closed_at", "closed_by", "snapshot"])
        _emit(actor, "period.closed", period, "period.closed", before,
              metadata={"snapshot_id": snap.id, "totals": snap.totals, "account_count": snap.account_count})
    return period


def period_close(*, actor: Actor, ref: str) -> AccountingPeriod:
    """closing -> closed (an open period goes through closing first, in its
    own short transaction): the period-end balances are snapshotted and the
    snapshot is sealed into the tenant's hash chain."""
    period = period_ensure(actor=actor, ref=ref)
    if period.status == PeriodStatus.OPEN:
        period_begin_closing(actor=actor, ref=period.public_id)
    period = _period_finish_close(actor=actor, ref=period.public_id)
    if settings.CHAIN_ENABLED:
        chain_seal()  # the sealer would link it within seconds; closing seals at once
    return period


def _later_not_open(period: AccountingPeriod) -> list[str]:
    return list(AccountingPeriod.objects.filter(start_at__gte=period.end_at).exclude(status=PeriodStatus.OPEN)
                .order_by("start_at").values_list("name", flat=True))


@retry_on_conflict
def period_reopen_request(*, actor: Actor, ref: str, reason: str) -> PeriodReopenRequest | AccountingPeriod:
    """A closing period goes back to open at once (nothing is sealed yet);
    a closed one needs a second person: this files the request."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise core_errors.ValidationFailed("Give a reason (1-500 characters).", field="reason")
    with transaction.atomic():
        period = AccountingPeriod.objects.select_for_update().filter(
            pk=getattr(period_get(ref), "pk", None)).first()
        if period is None:
            raise errors.PeriodNotFound(f"No period '{ref}'.")
        if period.status == PeriodStatus.OPEN:
            raise errors.PeriodInvalidTransition(f"Period {period.name} is already open.", period=period.name,
                                                 period_status=period.status)
        later = _later_not_open(period)
        if later:
            raise errors.PeriodOutOfOrder(f"Reopen the later periods first: {', '.join(later)}.",
                                          period=period.name, not_open_later=later)
        if period.status == PeriodStatus.CLOSING:
            before = period_body(period)
            period.status, period.closing_at, period.closing_by = PeriodStatus.OPEN, None, ""
            period.save(update_fields=["status", "closing_at", "closing_by"])
            _emit(actor, "period.reopened", period, "period.closing_cancelled", before,
                  metadata={"reason": reason})
            return period
        if PeriodReopenRequest.objects.filter(period=period, status=ReopenStatus.PENDING).exists():
            raise errors.ReopenPending(f"A reopen request for {period.name} is already waiting.", period=period.name)
        req = PeriodReopenRequest.objects.create(period=period, reason=reason, requested_by=actor.ref,
                                                 requested_by_label=actor.label[:150])
        audit_record(actor=actor, action="period.reopen_requested", target_type="accounting_period",
                     target_id=period.public_id, after=reopen_body(req), metadata={"reason": reason})
    return req


def _person(ref: str) -> str:
    return ":".join(ref.split(":")[:2])


@retry_on_conflict
def period_reopen_decide(*, actor: Actor, public_id: str, approve: bool, note: str = "") -> PeriodReopenRequest:
    """The checker's decision. Approving reopens the period: its snapshot
    is detached (it stays sealed, as history) and entries may be dated in it
    again until it is closed (and snapshotted, and sealed) anew."""
    with transaction.atomic():
        req = PeriodReopenRequest.objects.select_for_update().filter(public_id=public_id).first()
        if req is None:
            raise errors.ReopenRequestNotFound(f"No reopen request '{public_id}'.")
        if actor.kind != "user":
            raise core_errors.PermissionDenied("Only a person can decide a reopen request.")
        if _person(actor.ref) == _person(req.requested_by):
            raise errors.ReopenSelfDecision("You asked for this reopen; a different person must decide it.",
                                            request=req.public_id)
        if req.status != ReopenStatus.PENDING:
            raise errors.ReopenAlreadyDecided(f"Already {req.status} by {req.decided_by_label or req.decided_by}.",
                                              request=req.public_id, request_status=req.status)
        period = AccountingPeriod.objects.select_for_update().get(pk=req.period_id)
        before_req = reopen_body(req)
        if approve:
            later = _later_not_open(period)
            if period.status != PeriodStatus.CLOSED or later:
                raise errors.PeriodOutOfOrder(
                    f"Period {period.name} is {period.status}" + (f" and later periods are closed: {', '.join(later)}"
                                                                  if later else "") + ".", period=period.name)
        req.status = ReopenStatus.APPROVED if approve else ReopenStatus.REJECTED
        req.decided_by, req.decided_by_label = actor.ref, actor.label[:150]
        req.decided_at, req.decision_note = timezone.now(), (note or "")[:500]
        req.save()
        audit_record(actor=actor, action="period.reopen_" + ("approved" if approve else "rejected"),
                     target_type="period_reopen_request", target_id=req.public_id, before=before_req,
                     after=reopen_body(req), metadata={"period": period.name, "requested_by": req.requested_by})
        if approve:
            before = period_body(period)
            old_snapshot = period.snapshot_id
            period.status, period.snapshot = PeriodStatus.OPEN, None
            period.closing_at = period.closed_at = None
            period.closing_by = period.closed_by = ""
            period.reopen_count += 1
            period.save()
            _emit(actor, "period.reopened", period, "period.reopened", before,
                  metadata={"reason": req.reason, "requested_by": req.requested_by, "request": req.public_id,
                            "detached_snapshot_id": old_snapshot})
    return req


CLOSED_BOOKS = ClosedBooks(watermark_sql=CLOSED_THROUGH_SQL, watermark=closed_through, resolve=period_effective_resolve)
