"""Maker-checker: money requests made by a person above the tenant's
`approval_threshold` wait for a second person.

A request keeps the idempotency key of the form that made it. Nothing is
claimed at the posting boundary until a checker approves; then the entry is
posted through `entry_post` under that same key, with the approver as actor
and the requester named in the entry's metadata. Every step (requested,
approved, rejected) is audited and announced in the same transaction.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from django.db import OperationalError, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from ledger import errors
from core import errors as core_errors
from ledger.models import (
    Account, ApprovalKind, ApprovalRequest, ApprovalStatus, IdempotencyRecord, LedgerEntry, PolicyKind, Side,
)
from ledger.presenters import iso
from ledger.services.boundary import BoundaryOutcome, KEY_RE, request_hash
from ledger.posting.rules import LineSpec, lines_validate
from ledger.posting.post import entry_post
from ledger.services.policies import policies_for_accounts
from core.db_errors import raise_mapped
from core.locks import FORM_KEY, IN_FLIGHT_WAIT, tenant_key_lock
from core.transactions import retry_on_conflict
from events.services import event_emit
from core.context import get_correlation_id
from ledger.services.reversals import REVERSAL_REFUSALS, entry_reverse, reversal_state

ENTRY_OPERATION = "ledger_entry.create"
REVERSE_OPERATION = "ledger_entry.reverse"
# A duplicate submit waits this long for the in-flight original (as at the boundary).

Executor = Callable[..., BoundaryOutcome]
# kind -> function(request=, actor=, tenant=) that performs the approved change
# through its normal service (see docs/console.md, "Maker-checker").
APPROVAL_EXECUTORS: dict[str, Executor] = {}


def approval_executor(kind: str) -> Callable[[Executor], Executor]:
    def register(fn: Executor) -> Executor:
        APPROVAL_EXECUTORS[kind] = fn
        return fn

    return register


@dataclass(frozen=True)
class ApprovalSubmission:
    approval: ApprovalRequest
    replayed: bool


@dataclass(frozen=True)
class ManualEntryResult:
    """Either the boundary's outcome (posted, replayed or rejected by a
    policy) or the approval request the entry (or reversal) now waits in."""

    outcome: BoundaryOutcome | None = None
    approval: ApprovalRequest | None = None
    approval_replayed: bool = False

    @property
    def pending_approval(self) -> bool:
        return self.approval is not None


@dataclass(frozen=True)
class ApprovalDecision:
    approval: ApprovalRequest
    outcome: BoundaryOutcome | None  # None for a rejection


def person_of(ref: str) -> str:
    """`user:<id>:<username>` -> `user:<id>`: a renamed user is still the same person."""
    return ":".join(ref.split(":")[:2])


def _key_lock(key: str) -> None:
    """Serialize everything done under one form key in this tenant, so a
    double submit cannot take both the 'needs approval' and the 'post now'
    branch, or create two requests."""
    if not KEY_RE.match(key or ""):
        raise core_errors.IdempotencyKeyInvalid()
    try:
        tenant_key_lock(FORM_KEY, key, timeout=IN_FLIGHT_WAIT)
    except OperationalError as exc:
        raise_mapped(exc, idempotency_key=key)  # 55P03: the same form is still being submitted
        raise


def manual_entry_payload(
    *, lines: list[LineSpec], description: str = "", external_reference: str = "", source_event: str = "",
) -> dict[str, Any]:
    """The request as the API would receive it: its hash is the posting
    boundary's request hash, so the form and the API agree on 'same request'."""
    body: dict[str, Any] = {
        "lines": [{"account": ln.account, "side": ln.side, "amount_minor": ln.amount_minor, "currency": ln.currency}
                  for ln in lines],
    }
    for name, value in (("description", description), ("external_reference", external_reference),
                        ("source_event", source_event)):
        if value:
            body[name] = value
    return body


def approval_threshold_decision(*, lines: list[LineSpec]) -> dict[str, Any] | None:
    """The first `approval_threshold` policy (tenant-wide, or attached to one
    of the entry's accounts) that the entry's total debits exceed, with the
    numbers; None when no checker is needed."""
    codes = [ln.account for ln in lines if isinstance(ln.account, str)]
    ids = [ln.account for ln in lines if isinstance(ln.account, int)]
    account_ids = list(Account.objects.filter(code__in=codes).values_list("id", flat=True)) + ids
    amounts: dict[str, int] = defaultdict(int)
    for ln in lines:
        if ln.side == Side.DEBIT:
            amounts[ln.currency] += ln.amount_minor
    for policy, _linked in policies_for_accounts(account_ids):
        if policy.kind != PolicyKind.APPROVAL_THRESHOLD:
            continue
        threshold = policy.params["threshold_minor"]
        for currency, amount in sorted(amounts.items()):
            if policy.params.get("currency") in (None, currency) and amount > threshold:
                return {"policy": policy.name, "version": policy.version, "rule": PolicyKind.APPROVAL_THRESHOLD,
                        "decision": "needs_approval", "currency": currency, "amount_minor": amount,
                        "threshold_minor": threshold}
    return None


def approval_request_create(
    *, actor: Actor, kind: str, idempotency_key: str, req_hash: str, payload: dict[str, Any],
    currency: str, amount_minor: int, threshold: dict[str, Any] | None = None,
) -> ApprovalSubmission:
    """Park a change for a checker. The same key with the same request
    returns the existing request (a double submit); with a different request
    it is `idempotency_key_reused`."""
    if kind not in ApprovalKind.values:
        raise core_errors.ValidationFailed(f"Unknown approval kind '{kind}'.", field="kind")
    if actor.kind != "user":
        raise core_errors.ValidationFailed("Maker-checker is for people: only a user can request an approval.")
    with transaction.atomic():
        _key_lock(idempotency_key)
        existing = ApprovalRequest.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.request_hash != req_hash or existing.kind != kind:
                raise core_errors.IdempotencyKeyReused(
                    "This key was used for a different request; reload the form for a new one.",
                    idempotency_key=idempotency_key,
                )
            return ApprovalSubmission(approval=existing, replayed=True)
        if IdempotencyRecord.objects.filter(key=idempotency_key).exists():
            # Already decided at the boundary (posted or rejected): never ask twice.
            raise core_errors.IdempotencyKeyReused(
                "This key already has an outcome at the posting boundary.", idempotency_key=idempotency_key,
            )
        approval = ApprovalRequest.objects.create(
            kind=kind, idempotency_key=idempotency_key, request_hash=req_hash, payload=payload, currency=currency,
            amount_minor=amount_minor, threshold=threshold or {}, requested_by=actor.ref,
            requested_by_label=actor.label[:150], request_correlation_id=get_correlation_id(),
        )
        summary = approval_summary(approval)
        audit_record(actor=actor, action="approval.requested", target_type="approval_request",
                     target_id=approval.public_id, after=summary, policy_context=[threshold] if threshold else None,
                     metadata={"idempotency_key": idempotency_key, "kind": kind})
        event_emit(type="ledger.entry.pending_approval", payload=summary, actor=actor)
    return ApprovalSubmission(approval=approval, replayed=False)


def _park_or_run(
    *, actor: Actor, kind: str, idempotency_key: str, req_hash: str, payload: dict[str, Any],
    threshold_lines: Callable[[], list[LineSpec]], run: Callable[[], Any],
) -> ManualEntryResult:
    """A person's money request under its form key: the request parked
    earlier under the key is replayed; a new one that exceeds an approval
    threshold (measured on `threshold_lines()`) is parked for a checker as
    `kind`; otherwise `run()` posts it now. One transaction, under the key's
    lock, so a double submit cannot take both branches."""
    with transaction.atomic():
        _key_lock(idempotency_key)
        parked = ApprovalRequest.objects.filter(idempotency_key=idempotency_key).first()
        if parked is not None:
            if parked.request_hash != req_hash or parked.kind != kind:
                raise core_errors.IdempotencyKeyReused(
                    "This key was used for a different request; reload the form for a new one.",
                    idempotency_key=idempotency_key,
                )
            return ManualEntryResult(approval=parked, approval_replayed=True)
        decision = None
        if actor.kind == "user" and not IdempotencyRecord.objects.filter(key=idempotency_key).exists():
            decision = approval_threshold_decision(lines=threshold_lines())
        if decision is not None:
            sub = approval_request_create(
                actor=actor, kind=kind, idempotency_key=idempotency_key, req_hash=req_hash,
                payload=payload, currency=decision["currency"], amount_minor=decision["amount_minor"],
                threshold=decision,
            )
            return ManualEntryResult(approval=sub.approval, approval_replayed=sub.replayed)
        return ManualEntryResult(outcome=run())


@retry_on_conflict
def manual_entry_submit(
    *, actor: Actor, tenant: str, idempotency_key: str, lines: list[LineSpec], description: str = "",
    external_reference: str = "", source_event: str = "",
) -> ManualEntryResult:
    """A person's manual entry: posted at once, or parked for a checker when
    it exceeds an approval threshold. Resubmitting the same form (same key)
    replays whichever happened first."""
    lines_validate(lines)
    payload = manual_entry_payload(lines=lines, description=description, external_reference=external_reference,
                                   source_event=source_event)
    req_hash = request_hash(operation=ENTRY_OPERATION, payload=payload)
    return _park_or_run(
        actor=actor, kind=ApprovalKind.MANUAL_ENTRY, idempotency_key=idempotency_key, req_hash=req_hash,
        payload=payload, threshold_lines=lambda: lines,
        run=lambda: entry_post(
            actor=actor, tenant=tenant, idempotency_key=idempotency_key, req_hash=req_hash, lines=lines,
            description=description, external_reference=external_reference, source_event=source_event,
            metadata={"channel": "console"},
        ),
    )


def _decidable(*, actor: Actor, public_id: str) -> ApprovalRequest:
    approval = ApprovalRequest.objects.select_for_update().filter(public_id=public_id).first()
    if approval is None:
        raise errors.ApprovalNotFound(f"No approval request '{public_id}'.")
    if actor.kind != "user":
        raise core_errors.PermissionDenied("Only a person can decide an approval request.")
    if person_of(actor.ref) == person_of(approval.requested_by):
        raise errors.ApprovalSelfDecision(
            "You requested this change; a different person with the approve permission must decide it.",
            approval=approval.public_id,
        )
    if approval.status != ApprovalStatus.PENDING:
        raise errors.ApprovalAlreadyDecided(
            f"This request was already decided ({approval.status}) by {approval.decided_by_label or approval.decided_by}.",
            approval=approval.public_id, status=approval.status,
        )
    return approval


@approval_executor(ApprovalKind.MANUAL_ENTRY)
def _execute_manual_entry(*, request: ApprovalRequest, actor: Actor, tenant: str) -> BoundaryOutcome:
    p = request.payload
    lines = [LineSpec(account=ln["account"], side=ln["side"], amount_minor=ln["amount_minor"], currency=ln["currency"])
             for ln in p["lines"]]
    return entry_post(
        actor=actor, tenant=tenant, idempotency_key=request.idempotency_key, req_hash=request.request_hash,
        lines=lines, description=p.get("description", ""), external_reference=p.get("external_reference", ""),
        source_event=p.get("source_event", ""),
        metadata={"channel": "console", "approval": {
            "id": request.public_id, "requested_by": request.requested_by,
            "requested_by_label": request.requested_by_label, "requested_at": iso(request.requested_at),
            "approved_by": actor.ref, "approved_by_label": actor.label, "threshold": request.threshold,
        }},
    )


def reversal_payload(
    *, entry_id: int, amount_minor: int | None = None, description: str = "", external_reference: str = "",
) -> dict[str, Any]:
    """The reversal as the API would receive it (POST .../reverse with the
    entry named): its hash is the posting boundary's request hash."""
    body: dict[str, Any] = {"entry": entry_id}
    if amount_minor is not None:
        body["amount_minor"] = amount_minor
    for name, value in (("description", description), ("external_reference", external_reference)):
        if value:
            body[name] = value
    return body


def _reversal_lines(entry: LedgerEntry, amount_minor: int | None) -> list[LineSpec]:
    """What the reversal would move, for the threshold only (entry_reverse
    does the exact scaling and refuses what does not scale)."""
    state = reversal_state(entry)
    total = state["total_minor"] or 1
    lines = []
    for (account_id, side, currency), amount in state["original"].items():
        left = amount - state["reversed"].get((account_id, side, currency), 0)
        part = left if amount_minor is None else amount * amount_minor // total
        if part > 0:
            lines.append(LineSpec(account=account_id, side=Side.CREDIT if side == Side.DEBIT else Side.DEBIT,
                                  amount_minor=part, currency=currency))
    return lines


@retry_on_conflict
def reversal_submit(
    *, actor: Actor, tenant: str, entry_id: int, idempotency_key: str, amount_minor: int | None = None,
    description: str = "", external_reference: str = "",
) -> ManualEntryResult:
    """A person's reversal: posted at once, or parked for a checker (kind
    `reversal`) when what it moves exceeds an approval threshold, exactly as
    a manual entry. The same key replays whichever happened first."""
    payload = reversal_payload(entry_id=entry_id, amount_minor=amount_minor, description=description,
                               external_reference=external_reference)
    req_hash = request_hash(operation=REVERSE_OPERATION, payload=payload)

    def threshold_lines() -> list[LineSpec]:
        entry = LedgerEntry.objects.filter(id=entry_id).first()
        if entry is None:
            raise errors.EntryNotFound(f"No ledger entry '{entry_id}'.")
        return _reversal_lines(entry, amount_minor)

    return _park_or_run(
        actor=actor, kind=ApprovalKind.REVERSAL, idempotency_key=idempotency_key, req_hash=req_hash,
        payload=payload, threshold_lines=threshold_lines,
        run=lambda: entry_reverse(
            actor=actor, tenant=tenant, entry_id=entry_id, idempotency_key=idempotency_key, req_hash=req_hash,
            amount_minor=amount_minor, description=description, external_reference=external_reference,
            metadata={"channel": "console"},
        ),
    )


@approval_executor(ApprovalKind.REVERSAL)
def _execute_reversal(*, request: ApprovalRequest, actor: Actor, tenant: str) -> BoundaryOutcome:
    p = request.payload
    try:
        return entry_reverse(
            actor=actor, tenant=tenant, entry_id=p["entry"], idempotency_key=request.idempotency_key,
            req_hash=request.request_hash, amount_minor=p.get("amount_minor"),
            description=p.get("description", ""), external_reference=p.get("external_reference", ""),
            metadata={"channel": "console", "approval": {
                "id": request.public_id, "requested_by": request.requested_by,
                "requested_by_label": request.requested_by_label, "requested_at": iso(request.requested_at),
                "approved_by": actor.ref, "approved_by_label": actor.label, "threshold": request.threshold,
            }},
        )
    except REVERSAL_REFUSALS as exc:
        # The entry changed while the request waited (reversed meanwhile, say):
        # the request fails with that answer; nothing posts.
        return BoundaryOutcome(status=exc.status, body=exc.to_problem(), replayed=False)


@retry_on_conflict
def approval_approve(*, actor: Actor, tenant: str, public_id: str, note: str = "") -> ApprovalDecision:
    """Execute the parked change as the approver, in this one transaction.
    If the posting boundary refuses it (a policy, say), the request is
    recorded as failed with the boundary's answer: approving never bypasses
    a policy."""
    with transaction.atomic():
        approval = _decidable(actor=actor, public_id=public_id)
        executor = APPROVAL_EXECUTORS.get(approval.kind)
        if executor is None:
            raise errors.ApprovalKindUnsupported(f"No executor for '{approval.kind}' requests in this build.")
        try:
            outcome = executor(request=approval, actor=actor, tenant=tenant)
        except core_errors.IdempotencyKeyReused as exc:
            # The key got an unrelated outcome meanwhile: record it, never post twice.
            outcome = BoundaryOutcome(status=exc.status, body=exc.to_problem(), replayed=False)
        posted = not outcome.is_problem
        ApprovalRequest.objects.filter(pk=approval.pk).update(
            status=ApprovalStatus.POSTED if posted else ApprovalStatus.FAILED,
            decided_by=actor.ref, decided_by_label=actor.label[:150], decided_at=timezone.now(),
            decision_note=note[:500], entry_id=outcome.entry_id if posted else None, outcome=outcome.body,
        )
        before = approval_summary(approval)
        approval.refresh_from_db()
        after = approval_summary(approval)
        audit_record(
            actor=actor, action="approval.approved", target_type="approval_request", target_id=approval.public_id,
            before=before, after=after, policy_context=[approval.threshold] if approval.threshold else None,
            metadata={"idempotency_key": approval.idempotency_key, "requested_by": approval.requested_by,
                      "entry_id": approval.entry_id, "result": approval.status,
                      "problem_code": outcome.body.get("code") if not posted else None},
        )
    return ApprovalDecision(approval=approval, outcome=outcome)


@retry_on_conflict
def approval_reject(*, actor: Actor, public_id: str, note: str = "") -> ApprovalDecision:
    with transaction.atomic():
        approval = _decidable(actor=actor, public_id=public_id)
        before = approval_summary(approval)
        ApprovalRequest.objects.filter(pk=approval.pk).update(
            status=ApprovalStatus.REJECTED, decided_by=actor.ref, decided_by_label=actor.label[:150],
            decided_at=timezone.now(), decision_note=note[:500],
        )
        approval.refresh_from_db()
        after = approval_summary(approval)
        audit_record(
            actor=actor, action="approval.rejected", target_type="approval_request", target_id=approval.public_id,
            before=before, after=after, policy_context=[approval.threshold] if approval.threshold else None,
            metadata={"idempotency_key": approval.idempotency_key, "requested_by": approval.requested_by,
                      "note": approval.decision_note},
        )
        event_emit(type="ledger.entry.rejected", payload=after | {"reason": "approval_rejected"}, actor=actor)
    return ApprovalDecision(approval=approval, outcome=None)


def approval_summary(approval: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": approval.public_id, "kind": approval.kind, "status": approval.status,
        "idempotency_key": approval.idempotency_key, "currency": approval.currency,
        "amount_minor": approval.amount_minor, "payload": approval.payload, "threshold": approval.threshold,
        "requested_by": approval.requested_by, "requested_at": iso(approval.requested_at),
        "decided_by": approval.decided_by or None, "decided_at": iso(approval.decided_at),
        "decision_note": approval.decision_note, "entry_id": approval.entry_id,
    }
