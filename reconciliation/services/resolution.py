"""Resolving a reconciliation exception: an adjusting entry, or a note."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from reconciliation import errors
from core import errors as core_errors
from ledger.models import Account, ApprovalKind, ApprovalRequest, ApprovalStatus, EntryKind, LedgerEntry, LedgerLine, Side
from ledger.presenters import iso
from ledger.services.approvals import ApprovalSubmission, approval_executor, approval_request_create
from ledger.services.boundary import BoundaryOutcome, request_hash
from ledger.posting.rules import LineSpec
from ledger.posting.post import entry_post

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
    approval: dict[str, Any] | None = None,
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
        return _adjust(item, actor=actor, tenant=tenant, note=note, counter=counter_account, key=idempotency_key,
                       approval=approval)


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
            key: str | None, approval: dict[str, Any] | None = None) -> ResolveOutcome:
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
    if approval:
        metadata["approval"] = approval
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


# --- maker-checker: the console's adjustments wait for a second person ------

FOUR_EYES = {"rule": "reconciliation_adjustment", "decision": "needs_approval",
             "reason": "Adjusting entries made from the console are decided by a second person."}


def _adjustment_lines(item: ReconciliationItem, adj: Adjustment, counter: Account) -> list[dict[str, Any]]:
    """The adjusting entry as the approvals page draws it (account codes, sides, minor units)."""
    account = item.run.account
    opposite = Side.CREDIT if account.normal_side == Side.DEBIT else Side.DEBIT
    own_side = account.normal_side if adj.amount > 0 else opposite
    other_side = opposite if own_side == account.normal_side else account.normal_side
    amount = abs(adj.amount)
    return [{"account": account.code, "side": own_side, "amount_minor": amount, "currency": account.currency},
            {"account": counter.code, "side": other_side, "amount_minor": amount, "currency": counter.currency}]


def reconciliation_adjustment_request(
    *, actor: Actor, run_id: int, item_id: int, counter_account: Account, note: str, idempotency_key: str,
) -> ApprovalSubmission:
    """A person asks for an adjusting entry on one open item; nothing posts
    until a different person approves it on the Approvals page (the executor
    below then calls reconciliation_item_resolve under this request's key,
    with the approver as actor). One waiting adjustment per item."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise core_errors.ValidationFailed(f"note is at most {MAX_NOTE} characters.", field="note")
    with transaction.atomic():
        item = (ReconciliationItem.objects.select_for_update(of=("self",)).select_related("run__account")
                .filter(pk=item_id, run_id=run_id).first())
        if item is None:
            raise errors.ReconciliationItemNotFound(f"No item {item_id} in reconciliation {run_id}.")
        if item.run.status != RunStatus.COMPLETED:
            raise errors.ReconciliationInProgress(f"Reconciliation {run_id} is {item.run.status}.")
        account = item.run.account
        if counter_account.pk == account.pk:
            raise core_errors.ValidationFailed("The counter account must differ from the reconciled account.",
                                          field="counter_account")
        if counter_account.currency != account.currency:
            raise core_errors.ValidationFailed(
                f"The counter account is in {counter_account.currency}; '{account.code}' is in {account.currency}.",
                field="counter_account")
        waiting = ApprovalRequest.objects.filter(
            kind=ApprovalKind.RECON_ADJUSTMENT, status=ApprovalStatus.PENDING,
            payload__reconciliation__item=item.pk).exclude(idempotency_key=idempotency_key).first()
        if item.status != ItemStatus.OPEN:
            existing = ApprovalRequest.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:  # the same form again after the approval: show it
                return ApprovalSubmission(approval=existing, replayed=True)
            raise errors.ReconciliationItemNotOpen(f"Item {item.pk} is {item.status}.", item=item.pk,
                                                   status=item.status)
        if waiting is not None:
            raise errors.ReconciliationAdjustmentPending(
                f"Adjustment {waiting.public_id} for this item already waits for a checker.",
                approval=waiting.public_id)
        adj = adjustment_for(item)
        lines = _adjustment_lines(item, adj, counter_account)
        payload = {
            "lines": lines,
            "description": f"Reconciliation adjustment: {item.kind} (run {item.run_id}, item {item.pk})",
            "external_reference": adj.reference,
            "reconciliation": {"run": item.run_id, "item": item.pk, "kind": item.kind, "line": item.line_no,
                               "counter_account": counter_account.code, "note": note,
                               "amount_minor": adj.amount},
        }
        sub = approval_request_create(
            actor=actor, kind=ApprovalKind.RECON_ADJUSTMENT, idempotency_key=idempotency_key,
            req_hash=_hash(item, adj, counter_account), payload=payload, currency=account.currency,
            amount_minor=abs(adj.amount), threshold=FOUR_EYES,
        )
        if not sub.replayed:
            audit_record(actor=actor, action="reconciliation_item.adjustment_requested",
                         target_type="reconciliation_item", target_id=item.pk,
                         metadata={"reconciliation": item.run_id, "kind": item.kind, "approval": sub.approval.public_id,
                                   "amount_minor": adj.amount, "counter_account": counter_account.code, "note": note})
    return sub


@approval_executor(ApprovalKind.RECON_ADJUSTMENT)
def _execute_adjustment(*, request: ApprovalRequest, actor: Actor, tenant: str) -> BoundaryOutcome:
    """Approved: resolve the item through the same service the API uses. If
    the item changed meanwhile (explained, matched) the request fails with
    that answer and nothing posts."""
    r = request.payload["reconciliation"]
    approval = {"id": request.public_id, "requested_by": request.requested_by,
                "requested_by_label": request.requested_by_label, "requested_at": iso(request.requested_at),
                "approved_by": actor.ref, "approved_by_label": actor.label, "threshold": request.threshold}
    try:
        counter = Account.objects.get(code=r["counter_account"])
        out = reconciliation_item_resolve(
            actor=actor, tenant=tenant, run_id=r["run"], item_id=r["item"], action=ADJUST, note=r.get("note", ""),
            counter_account=counter, idempotency_key=request.idempotency_key, approval=approval)
    except core_errors.ZentraError as exc:
        return BoundaryOutcome(status=exc.status, body=exc.to_problem(), replayed=False)
    if out.posting is not None:
        return out.posting
    entry = out.item.adjusting_entry
    return BoundaryOutcome(status=200, body={"posting_id": entry.posting_id, "entry_id": entry.pk}, replayed=True,
                           entry_id=entry.pk)


# --- pairing by hand ---------------------------------------------------------

@dataclass(frozen=True)
class MatchOutcome:
    item: ReconciliationItem
    entry: LedgerEntry
    released: ReconciliationItem | None  # the entry's own missing_at_provider item, now closed


def _entry_by_ref(ref: str, account: Account) -> LedgerEntry:
    ref = (ref or "").strip()
    if not ref:
        raise core_errors.ValidationFailed("Name the entry: its posting id (pst_…), id or external reference.",
                                      field="entry")
    qs = LedgerEntry.objects.filter(lines__account=account).distinct()
    found = None
    if ref.startswith("pst_"):
        found = qs.filter(posting_id=ref).first()
    elif ref.isdigit():
        found = qs.filter(pk=int(ref)).first()
    if found is None:
        by_ref = list(qs.filter(external_reference=ref)[:2])
        if len(by_ref) > 1:
            raise errors.ReconciliationMatchInvalid(
                f"Several entries on '{account.code}' carry the reference '{ref}'; use the posting id.", entry=ref)
        found = by_ref[0] if by_ref else None
    if found is None:
        raise errors.ReconciliationMatchInvalid(f"No entry '{ref}' on account '{account.code}'.", entry=ref)
    return found


def reconciliation_item_match(*, actor: Actor, run_id: int, item_id: int, entry_ref: str) -> MatchOutcome:
    """Pair an unpaired statement line with a ledger entry by hand (the
    operator knows they are the same transaction though the rules did not
    pair them). Same amount and currency -> matched; else the line becomes an
    amount_drift / currency_drift break against that entry. The entry's own
    missing_at_provider item in this run, if any, is closed with a note. The
    run's counts stay the matcher's findings; items show the state now."""
    with transaction.atomic():
        item = (ReconciliationItem.objects.select_for_update(of=("self",)).select_related("run__account")
                .filter(pk=item_id, run_id=run_id).first())
        if item is None:
            raise errors.ReconciliationItemNotFound(f"No item {item_id} in reconciliation {run_id}.")
        run, account = item.run, item.run.account
        if run.status != RunStatus.COMPLETED:
            raise errors.ReconciliationInProgress(f"Reconciliation {run_id} is {run.status}.")
        if item.status != ItemStatus.OPEN:
            raise errors.ReconciliationItemNotOpen(f"Item {item.pk} is {item.status}.", item=item.pk,
                                                   status=item.status)
        if item.line_no is None or item.entry_id is not None:
            raise errors.ReconciliationMatchInvalid(
                "Only a statement line the rules left unpaired (missing in ledger, duplicate) can be paired by hand.",
                item=item.pk, kind=item.kind)
        entry = _entry_by_ref(entry_ref, account)
        pending = ApprovalRequest.objects.filter(kind=ApprovalKind.RECON_ADJUSTMENT, status=ApprovalStatus.PENDING,
                                                 payload__reconciliation__item=item.pk).first()
        if pending is not None:
            raise errors.ReconciliationAdjustmentPending(
                f"Adjustment {pending.public_id} for this line waits for a checker; reject it first.",
                approval=pending.public_id)
        with connection.cursor() as cur:
            # Two lines paired with one entry at once: the second waits here, then sees the first.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        [f"recon-match:{connection.schema_name}:{run.pk}:{entry.pk}"])
        own = (ReconciliationItem.objects.select_for_update(of=("self",))
               .filter(run=run, entry_id=entry.pk).order_by("id"))
        released = None
        for other in own:
            if other.kind != ItemKind.MISSING_AT_PROVIDER or other.status != ItemStatus.OPEN:
                where = f"line {other.line_no}" if other.line_no else f"item {other.pk}"
                raise errors.ReconciliationMatchInvalid(
                    f"Entry {entry.posting_id} is already paired in this run ({where}, {other.status}).",
                    entry=entry.posting_id)
            released = other
        amount = 0
        for side, minor in LedgerLine.objects.filter(entry=entry, account=account).values_list("side", "amount_minor"):
            amount += minor if side == account.normal_side else -minor
        before = {"kind": item.kind, "status": item.status}
        if item.statement_currency != account.currency:
            kind, status = ItemKind.CURRENCY_DRIFT, ItemStatus.OPEN
        elif item.statement_amount != amount:
            kind, status = ItemKind.AMOUNT_DRIFT, ItemStatus.OPEN
        else:
            kind, status = ItemKind.MATCHED, ItemStatus.MATCHED
        now = timezone.now()
        item.kind, item.status, item.match_rule = kind, status, "manual"
        item.entry, item.ledger_amount, item.ledger_currency = entry, amount, account.currency
        item.effective_at = entry.effective_at
        item.difference = item.statement_amount - amount if item.statement_currency == account.currency else None
        item.resolved_by, item.resolved_at = actor.ref, now
        item.save(update_fields=["kind", "status", "match_rule", "entry", "ledger_amount", "ledger_currency",
                                 "effective_at", "difference", "resolved_by", "resolved_at"])
        if released is not None:
            released.status, released.note = ItemStatus.MATCHED, f"Paired by hand with statement line {item.line_no}."
            released.resolved_by, released.resolved_at = actor.ref, now
            released.save(update_fields=["status", "note", "resolved_by", "resolved_at"])
        audit_record(actor=actor, action="reconciliation_item.matched_by_hand", target_type="reconciliation_item",
                     target_id=item.pk, before=before,
                     after={"kind": kind, "status": status, "entry_id": entry.pk, "difference_minor": item.difference},
                     metadata={"reconciliation": run.pk, "posting_id": entry.posting_id, "entry_ref": entry_ref,
                               "released_item": released.pk if released else None})
    return MatchOutcome(item=item, entry=entry, released=released)
