"""Resolving a reconciliation exception: an adjusting entry, or a note."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from reconciliation import errors
from core import errors as core_errors
from ledger.models import Account, EntryKind, Side
from ledger.services.boundary import BoundaryOutcome, request_hash
from ledger.services.entries import LineSpec, entry_post

from ..models import ItemKind, ItemStatus, ReconciliationItem, RunStatus

ADJUST = "adjust"
EXPLAIN = "explain"
ACTIONS = (ADJUST, EXPLAIN)
OPERATION = "reconciliation_item.adjust"
MAX_NOTE = 2000


@dataclass(frozen=True)
class ResolveOutcome:
    item: ReconciliationItem
    replayed: bool = False
    posting: BoundaryOutcome | None = None  # the adjusting entry's boundary outcome

    @property
    def rejected(self) -> bool:
        return self.posting is not None and self.posting.is_problem


@dataclass(frozen=True)
class Adjustment:
    amount: int  # signed, in the run account's normal-side terms
    adjusts_entry_id: int | None
    effective_at: dt.datetime | None
    reference: str


def adjustment_for(item: ReconciliationItem) -> Adjustment:
    """What the ledger must gain on the run's account so that the item matches
    on the next run. Entry corrections are linked to the entry they correct
    (the next run folds them in); a missing line becomes its own entry with
    the line's reference and date."""
    account = item.run.account
    if item.kind in (ItemKind.MISSING_IN_LEDGER, ItemKind.DUPLICATE_IN_STATEMENT):
        if item.statement_currency != account.currency:
            raise errors.AdjustmentNotPossible(
                f"The statement line is in {item.statement_currency}; account '{account.code}' is in "
                f"{account.currency}. Explain the item instead.", item=item.pk)
        adj = Adjustment(item.statement_amount, None, item.booked_at, item.reference)
    elif item.kind == ItemKind.AMOUNT_DRIFT:
        adj = Adjustment(item.difference, item.entry_id, None, item.reference)
    elif item.kind == ItemKind.MISSING_AT_PROVIDER:
        adj = Adjustment(-item.ledger_amount, item.entry_id, None, item.reference)
    else:
        raise errors.AdjustmentNotPossible(
            f"A {item.kind} item cannot be fixed by an entry on '{account.code}' ({account.currency}); "
            "explain it instead.", item=item.pk, kind=item.kind)
    if not adj.amount:
        raise errors.AdjustmentNotPossible("The adjustment would be zero; explain the item instead.", item=item.pk)
    return adj


def _hash(item: ReconciliationItem, adj: Adjustment, counter: Account) -> str:
    return request_hash(operation=OPERATION, payload={
        "reconciliation": item.run_id, "item": item.pk, "amount_minor": adj.amount, "counter_account": counter.pk})


def reconciliation_item_resolve(
    *, actor: Actor, tenant: str, run_id: int, item_id: int, action: str, note: str = "",
    counter_account: Account | None = None, idempotency_key: str | None = None,
) -> ResolveOutcome:
    """Resolve one open exception, in one transaction.

    `adjust` posts an adjusting entry (kind=adjustment) through entry_post
    between the run's account and `counter_account`, under `idempotency_key`
    or, by default, a key derived from the run and the item: a retried
    resolution replays, it never posts twice. The entry's metadata names the
    item (`reconciliation_item`); the item links the entry. A policy rejection
    is remembered under that key like any posting and leaves the item open;
    the next attempt derives a fresh key. `explain` records the note only.
    Maker-checker (approval above a threshold) belongs to the caller: this
    service posts for whoever `actor` is."""
    if action not in ACTIONS:
        raise core_errors.ValidationFailed("action is 'adjust' or 'explain'.", field="action")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise core_errors.ValidationFailed(f"note is at most {MAX_NOTE} characters.", field="note")
    if action == EXPLAIN and not note:
        raise core_errors.ValidationFailed("Explaining an item needs a note.", field="note")
    if action == ADJUST and counter_account is None:
        raise core_errors.ValidationFailed("An adjustment needs counter_account (the other side of the entry).",
                                      field="counter_account")
    with transaction.atomic():
        # Only the item's own row is read under the lock: a join would show a
        # concurrent winner's item with the entry it just posted missing
        # (PostgreSQL re-checks the locked row, not the joined ones).
        item = (ReconciliationItem.objects.select_for_update(of=("self",)).select_related("run__account")
                .filter(pk=item_id, run_id=run_id).first())
        if item is None:
            raise errors.ReconciliationItemNotFound(f"No item {item_id} in reconciliation {run_id}.")
        if item.run.status != RunStatus.COMPLETED:
            raise errors.ReconciliationInProgress(f"Reconciliation {run_id} is {item.run.status}.")
        if item.status != ItemStatus.OPEN:
            return _replay_or_refuse(item, action=action, note=note, counter=counter_account)
        if action == EXPLAIN:
            return _explain(item, actor=actor, note=note)
        return _adjust(item, actor=actor, tenant=tenant, note=note, counter=counter_account, key=idempotency_key)


def _replay_or_refuse(item: ReconciliationItem, *, action: str, note: str, counter: Account | None) -> ResolveOutcome:
    same = False
    if action == EXPLAIN and item.status == ItemStatus.EXPLAINED:
        same = item.note == note
    elif action == ADJUST and item.status == ItemStatus.RESOLVED and item.adjusting_entry_id:
        same = item.adjusting_entry.request_hash == _hash(item, adjustment_for(item), counter)
    if same:
        return ResolveOutcome(item=item, replayed=True)
    raise errors.ReconciliationItemNotOpen(
        f"Item {item.pk} is {item.status}" + (f" by {item.resolved_by}" if item.resolved_by else "") + ".",
        item=item.pk, status=item.status)


def _explain(item: ReconciliationItem, *, actor: Actor, note: str) -> ResolveOutcome:
    before = {"status": item.status}
    item.status, item.note = ItemStatus.EXPLAINED, note
    item.resolved_by, item.resolved_at = actor.ref, timezone.now()
    item.save(update_fields=["status", "note", "resolved_by", "resolved_at"])
    audit_record(actor=actor, action="reconciliation_item.explained", target_type="reconciliation_item",
                 target_id=item.pk, before=before, after={"status": item.status, "note": note},
                 metadata={"reconciliation": item.run_id, "kind": item.kind})
    return ResolveOutcome(item=item)


def _adjust(item: ReconciliationItem, *, actor: Actor, tenant: str, note: str, counter: Account,
            key: str | None) -> ResolveOutcome:
    run, account = item.run, item.run.account
    if counter.pk == account.pk:
        raise core_errors.ValidationFailed("counter_account must differ from the reconciled account.",
                                      field="counter_account")
    adj = adjustment_for(item)
    key = key or f"recon:{run.pk}:{item.pk}:{item.adjust_attempts + 1}"
    opposite = Side.CREDIT if account.normal_side == Side.DEBIT else Side.DEBIT
    own_side = account.normal_side if adj.amount > 0 else opposite
    other_side = opposite if own_side == account.normal_side else account.normal_side
    amount = abs(adj.amount)
    metadata: dict[str, Any] = {"reconciliation_item": item.pk, "reconciliation_run": run.pk,
                                "reconciliation_kind": item.kind}
    if adj.adjusts_entry_id:
        metadata["reconciliation_adjusts_entry"] = adj.adjusts_entry_id
    if note:
        metadata["note"] = note[:500]
    outcome = entry_post(
        actor=actor, tenant=tenant, idempotency_key=key, req_hash=_hash(item, adj, counter),
        lines=[LineSpec(account=account.pk, side=own_side, amount_minor=amount, currency=account.currency),
               LineSpec(account=counter.pk, side=other_side, amount_minor=amount, currency=counter.currency)],
        external_reference=adj.reference,
        source_event=f"reconciliation:{run.pk}:item:{item.pk}",
        description=f"Reconciliation adjustment: {item.kind} (run {run.pk}, item {item.pk})",
        effective_at=adj.effective_at, metadata=metadata, kind=EntryKind.ADJUSTMENT, operation=OPERATION,
    )
    if outcome.is_problem:
        if outcome.replayed:  # the caller's own key, already answered: nothing new happened
            return ResolveOutcome(item=item, posting=outcome, replayed=True)
        item.adjust_attempts += 1
        item.save(update_fields=["adjust_attempts"])
        audit_record(actor=actor, action="reconciliation_item.adjust_rejected", target_type="reconciliation_item",
                     target_id=item.pk, policy_context=outcome.body.get("decisions"),
                     metadata={"reconciliation": run.pk, "idempotency_key": key, "code": outcome.body.get("code"),
                               "detail": outcome.body.get("detail")})
        return ResolveOutcome(item=item, posting=outcome)
    before = {"status": item.status}
    item.status, item.note = ItemStatus.RESOLVED, note
    item.adjusting_entry_id = outcome.entry_id
    item.resolved_by, item.resolved_at = actor.ref, timezone.now()
    item.save(update_fields=["status", "note", "adjusting_entry", "resolved_by", "resolved_at"])
    item.refresh_from_db()
    audit_record(actor=actor, action="reconciliation_item.adjusted", target_type="reconciliation_item",
                 target_id=item.pk, before=before,
                 after={"status": item.status, "adjusting_entry_id": outcome.entry_id, "amount_minor": adj.amount},
                 metadata={"reconciliation": run.pk, "kind": item.kind, "idempotency_key": key,
                           "posting_id": outcome.body.get("posting_id"), "counter_account": counter.code,
                           "note": note})
    return ResolveOutcome(item=item, posting=outcome, replayed=outcome.replayed)
