"""Holds: two-phase postings. A hold reserves money on an account (pending up,
available down, posted unchanged); a capture posts a real entry out of it; a
release or expiry gives the rest back.

Every operation that a client sends goes through the posting boundary with
its own operation name, so keys replay, refuse reuse and remember policy
rejections exactly as for entries. The pending balance itself is moved by
the database (hold trigger, 0003_lifecycle): the services only change hold
rows, under the lock order of ledger/locks.py (the hold, then accounts).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from ledger.currencies import is_known
from ledger.locks import lock_accounts, lock_accounts_by_ref, lock_due_holds, lock_hold
from ledger.models import Account, EntryKind, Hold, HoldStatus, Side
from ledger.presenters import account_balances, hold_body, hold_snapshot
from ledger.services.boundary import BoundaryOutcome, Posted, boundary_run
from ledger.posting.rules import LineSpec
from ledger.posting.post import account_codes, entry_write, rejection_record
from ledger.services.policies import policies_evaluate
from core.db_errors import database_errors_mapped
from core.transactions import retry_on_conflict
from core.tenancy import for_each_active_tenant
from tenants.selectors import tenant_current
from events.services import event_emit
from core.context import get_correlation_id

log = logging.getLogger("zentra.ledger")

MAX_MINOR = 2**63 - 1
# Card authorizations live days, not years; a far-future expiry is a bug.
MAX_HOLD_HORIZON = dt.timedelta(days=366)
EXPIRY_CHUNK = 200
EXPIRY_ACTOR = Actor.system("hold_expiry")


def _amount_check(amount: Any, field: str) -> None:
    if type(amount) is not int or not (0 < amount <= MAX_MINOR):
        raise errors.InvalidAmount(f"{field} must be a JSON integer in minor units between 1 and 2^63-1.", field=field)


def _opposite(side: str) -> str:
    return Side.CREDIT if side == Side.DEBIT else Side.DEBIT


def _emit(*, actor: Actor, event_type: str, body: dict[str, Any], action: str, hold: Hold,
          before: dict | None, policy_context: Any = None, metadata: dict | None = None) -> dict[str, Any]:
    """Outbox event and audit event for one hold transition, in the caller's
    transaction; returns the body with the event named in it."""
    event = event_emit(type=event_type, payload=body, actor=actor)
    audit_record(actor=actor, action=action, target_type="hold", target_id=hold.id, before=before,
                 after=hold_snapshot(hold), policy_context=policy_context,
                 metadata={"hold_id": hold.hold_id, **(metadata or {})})
    return body | {"event": event.type, "event_id": event.public_id}


def hold_create(
    *, actor: Actor, tenant: str, idempotency_key: str, req_hash: str, account: int | str, amount_minor: int,
    currency: str, destination: int | str | None = None, expires_at: dt.datetime | None = None,
    external_reference: str = "", description: str = "", metadata: dict[str, Any] | None = None,
) -> BoundaryOutcome:
    """Reserve `amount_minor` on `account` (pending up, available down).
    Policies see the hold as a posting that lowers available by its amount,
    so no_negative_available refuses a hold the account cannot cover."""
    _amount_check(amount_minor, "amount_minor")
    if not is_known(currency):
        raise errors.UnknownCurrency(f"'{currency}' is not a known ISO 4217 currency.", field="currency")
    if destination is not None and destination == account:
        raise errors.InvalidDestination("The destination must differ from the held account.", field="destination")
    refs = [account] if destination is None else [account, destination]

    def work() -> Posted:
        # Time-dependent checks run after the claim, so a retry of a hold
        # created earlier replays even once its expires_at has passed.
        now = timezone.now()
        if expires_at is not None and not (now < expires_at <= now + MAX_HOLD_HORIZON):
            raise errors.InvalidExpiry(
                f"expires_at must be after now ({now.isoformat()}) and within {MAX_HOLD_HORIZON.days} days.",
                field="expires_at")
        by_ref = lock_accounts_by_ref(refs)
        missing = [r for r in refs if r not in by_ref]
        if missing:
            raise errors.AccountNotFound(f"Unknown accounts: {', '.join(map(str, missing))}.", accounts=missing)
        acc = by_ref[account]
        dest = by_ref[destination] if destination is not None else None
        if acc.currency != currency:
            raise errors.CurrencyMismatch(f"The hold is in {currency} but account '{acc.code}' is in {acc.currency}.",
                                          field="currency")
        if dest is not None and (dest.id == acc.id or dest.currency != currency):
            raise errors.InvalidDestination(
                f"The destination '{dest.code}' must be another account in {currency}.", field="destination")
        locked = {a.id: a for a in (acc, dest) if a is not None}
        decisions = policies_evaluate(accounts=locked, available_deltas={acc.id: -amount_minor},
                                      amounts_by_currency={currency: amount_minor})
        with database_errors_mapped():  # the hold trigger raises pending: it can leave bigint's range
            hold = Hold.objects.create(
                account=acc, destination=dest, amount_minor=amount_minor, currency=currency, expires_at=expires_at,
                idempotency_key=idempotency_key, external_reference=external_reference, description=description,
                metadata=metadata or {}, actor_kind=actor.kind, actor_ref=actor.ref,
                correlation_id=get_correlation_id(), policy_decisions=decisions,
            )
        body = hold_body(hold, account=acc, destination=dest, tenant=tenant) | {
            # The hold trigger raised pending by exactly the amount; the row is locked.
            "balances": [account_balances(acc, pending=acc.pending_balance + amount_minor)],
        }
        body = _emit(actor=actor, event_type="ledger.hold.created", body=body, action="hold.created", hold=hold,
                     before=None, policy_context=decisions,
                     metadata={"idempotency_key": idempotency_key, "account": acc.code})
        return Posted(status=201, body=body, entry_id=None, outcome="held")

    def on_rejected(rejection: errors.PolicyRejected) -> None:
        rejection_record(actor=actor, operation="hold.create", idempotency_key=idempotency_key, rejection=rejection,
                         accounts=account_codes(refs))

    return boundary_run(key=idempotency_key, operation="hold.create", req_hash=req_hash, actor=actor, work=work,
                        on_rejected=on_rejected)


def _open_hold(hold_id: int, now: dt.datetime) -> Hold:
    hold = lock_hold(hold_id)
    if hold is None:
        raise errors.HoldNotFound(f"No hold {hold_id}.")
    if not hold.is_open:
        raise errors.HoldNotActive(f"Hold {hold.hold_id} is {hold.status}.", hold_id=hold.hold_id,
                                   hold_status=hold.status)
    # Past expires_at the hold is expired whether or not the sweep has run yet.
    if hold.expires_at is not None and hold.expires_at <= now:
        raise errors.HoldExpired(f"Hold {hold.hold_id} expired at {hold.expires_at.isoformat()}.",
                                 hold_id=hold.hold_id, hold_status=hold.status)
    return hold


def hold_capture(
    *, actor: Actor, tenant: str, hold_id: int, idempotency_key: str, req_hash: str,
    amount_minor: int | None = None, destination: int | str | None = None, release_remainder: bool = False,
    external_reference: str = "", description: str = "", metadata: dict[str, Any] | None = None,
) -> BoundaryOutcome:
    """Post a hold_capture entry of `amount_minor` (default: all that remains)
    from the held account to the destination, and lower pending by the same
    amount, so available does not move twice. With `release_remainder` the
    rest is released and the hold closes; otherwise it stays open for further
    captures until it is released or expires."""
    if amount_minor is not None:
        _amount_check(amount_minor, "amount_minor")

    def work() -> Posted:
        now = timezone.now()
        hold = _open_hold(hold_id, now)
        remaining = hold.remaining_minor
        amount = remaining if amount_minor is None else amount_minor
        if amount > remaining:
            raise errors.CaptureExceedsHold(
                f"Hold {hold.hold_id} reserves {remaining} {hold.currency}; {amount} requested.",
                hold_id=hold.hold_id, requested_minor=amount, remaining_minor=remaining)
        dest_ref = destination if destination is not None else hold.destination_id
        if dest_ref is None:
            raise errors.DestinationRequired(
                "Name a destination account in the capture (the hold was created without one).", field="destination")
        held = Account.objects.get(id=hold.account_id)
        dest = Account.objects.filter(**({"id": dest_ref} if isinstance(dest_ref, int) else {"code": dest_ref})).first()
        if dest is None:
            raise errors.AccountNotFound(f"Unknown accounts: {dest_ref}.", accounts=[dest_ref])
        if dest.id == held.id:
            raise errors.InvalidDestination("The destination must differ from the held account.", field="destination")
        released_now = remaining - amount if release_remainder else 0
        before = hold_snapshot(hold)
        # Money leaves the held account on the side that lowers it.
        lines = [LineSpec(account=held.id, side=_opposite(held.normal_side), amount_minor=amount, currency=hold.currency),
                 LineSpec(account=dest.id, side=held.normal_side, amount_minor=amount, currency=hold.currency)]

        def close_or_keep(entry) -> None:  # entry_write's row of the capture entry
            hold.captured_minor += amount
            hold.released_minor += released_now
            hold.last_entry_id = entry.id
            if hold.remaining_minor == 0:
                hold.status, hold.closed_at = HoldStatus.CAPTURED, now
            else:
                hold.status = HoldStatus.PARTIALLY_CAPTURED
            hold.save()

        posted = entry_write(
            actor=actor, tenant=tenant, idempotency_key=idempotency_key, req_hash=req_hash, lines=lines,
            external_reference=external_reference or hold.external_reference,
            description=description or f"Capture of hold {hold.hold_id}",
            metadata={"hold_id": hold.hold_id, **(metadata or {})}, kind=EntryKind.HOLD_CAPTURE,
            operation="hold.capture", audit_action="ledger_entry.posted",
            # Pending drops with the capture (and any released remainder), so
            # available only changes by what is released.
            available_adjust={held.id: amount + released_now}, extra_work=close_or_keep,
        )
        body = {
            "object": "hold_capture",
            "hold": hold_body(hold, account=held, destination=hold.destination, tenant=tenant),
            "captured_minor": amount,
            "released_minor": released_now,
            "entry": posted.body,
        }
        body = _emit(actor=actor, event_type="ledger.hold.captured", body=body, action="hold.captured", hold=hold,
                     before=before, metadata={"idempotency_key": idempotency_key, "entry_id": posted.entry_id,
                                              "captured_minor": amount, "released_minor": released_now})
        return Posted(status=201, body=body, entry_id=posted.entry_id, outcome="posted")

    def on_rejected(rejection: errors.PolicyRejected) -> None:
        rejection_record(actor=actor, operation="hold.capture", idempotency_key=idempotency_key, rejection=rejection,
                         accounts=sorted({d.get("account") for d in rejection.extra.get("decisions") or []
                                          if d.get("account")}))

    return boundary_run(key=idempotency_key, operation="hold.capture", req_hash=req_hash, actor=actor, work=work,
                        on_rejected=on_rejected)


def hold_release(
    *, actor: Actor, tenant: str, hold_id: int, idempotency_key: str, req_hash: str, reason: str = "",
) -> BoundaryOutcome:
    """Void what the hold still reserves (after a partial capture: the rest)."""

    def work() -> Posted:
        now = timezone.now()
        hold = _open_hold(hold_id, now)
        acc = lock_accounts([hold.account_id])[hold.account_id]
        before = hold_snapshot(hold)
        released = hold.remaining_minor
        hold.released_minor += released
        hold.status, hold.closed_at = HoldStatus.RELEASED, now
        hold.save()
        body = hold_body(hold, account=acc, destination=hold.destination, tenant=tenant) | {
            "released_now_minor": released,
            "balances": [account_balances(acc, pending=acc.pending_balance - released)],
        }
        body = _emit(actor=actor, event_type="ledger.hold.released", body=body, action="hold.released", hold=hold,
                     before=before, metadata={"idempotency_key": idempotency_key, "reason": reason,
                                              "released_minor": released})
        return Posted(status=200, body=body, entry_id=None, outcome="released")

    return boundary_run(key=idempotency_key, operation="hold.release", req_hash=req_hash, actor=actor, work=work)


@retry_on_conflict
def _expire_chunk(*, now: dt.datetime, limit: int, tenant: str) -> int:
    with transaction.atomic():
        holds = lock_due_holds(now=now, limit=limit)
        if not holds:
            return 0
        accounts = lock_accounts({h.account_id for h in holds})
        destinations = {a.id: a for a in Account.objects.filter(id__in={h.destination_id for h in holds} - {None})}
        closed_at = timezone.now()
        for hold in holds:
            acc = accounts[hold.account_id]
            before = hold_snapshot(hold)
            released = hold.remaining_minor
            hold.released_minor += released
            hold.status, hold.closed_at = HoldStatus.EXPIRED, closed_at
            hold.save()
            acc.pending_balance -= released  # what the trigger just did to the locked row
            body = hold_body(hold, account=acc, destination=destinations.get(hold.destination_id), tenant=tenant) | {
                "released_now_minor": released, "balances": [account_balances(acc)],
            }
            _emit(actor=EXPIRY_ACTOR, event_type="ledger.hold.expired", body=body, action="hold.expired", hold=hold,
                  before=before, metadata={"released_minor": released, "expired_at": now.isoformat()})
        return len(holds)


def hold_expire_due(*, now: dt.datetime | None = None, limit: int = EXPIRY_CHUNK) -> int:
    """Expire every open hold of the current tenant whose expires_at has
    passed, `limit` per transaction. Returns how many expired."""
    now = now or timezone.now()
    tenant = tenant_current().slug  # also under schema_context(), whose stand-in tenant has no slug
    total = 0
    while True:
        n = _expire_chunk(now=now, limit=limit, tenant=tenant)
        total += n
        if n < limit:
            return total


def hold_expire_due_all_tenants(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic job: every active tenant, each in its own schema. One
    broken tenant is logged and skipped, never blocks the others."""
    expired = for_each_active_tenant(lambda tenant: hold_expire_due(now=now), what="hold expiry")
    return {slug: n for slug, n in expired.items() if n}
