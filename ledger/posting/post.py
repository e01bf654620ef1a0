"""Posting one balanced entry: the orchestration, top to bottom.

    entry_post
      1. lines_validate                      (rules: nothing read yet)
      2. one_statement_post                  a new key over accounts this process
                                             knows: decided on ledger.posting_cache,
                                             written and confirmed by ONE statement
                                             (statements.one_statement_posting)
      3. otherwise boundary_run(work=entry_write):
           claim + read        statements.key_claim_and_read (claim.py)
           decide              rules.evaluate on the rows read (locking all when a
                               decision rests on an unlocked balance)
           write               one statement of CTE parts (statements.write): entry,
                               audit, late lock, lines, event, boundary record
           respond             presenters.posting_body

Step 2 answers almost every posting; step 3 answers what it hands over: a
replayed key, an account or policy it has not seen or that changed, a
posting a no-negative-available policy must decide on a locked balance, a
refusal, a date in closed books. Both end in the same rows and the same
answer (tests/ledger/test_direct_post.py).

Two cases stay distinct, by an explicit `own_transaction` decided once in
entry_post: only a posting in a transaction of its own may try step 2 (a
failed statement would abort a caller's transaction, and the step gives up
by failing) and may lock late (a late lock's stale read is retried by
re-running the whole transaction, which only the outermost one can do).

entry_write is also the write for money services that claimed their key
themselves (holds, reversals): `extra_work` adds their rows in the same
transaction, after the entry row exists.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from audit.services.audit import audit_cte, audit_record
from core import errors as core_errors
from core.actors import Actor
from core.context import get_correlation_id
from core.db import hot_execute, json_compact, pg_array
from core.db_errors import (
    LOCK_NOT_AVAILABLE,
    database_errors_mapped,
    raise_mapped,
    sqlstate,
)
from events.services import event_cte, event_emit, fanout_made
from ledger import errors
from ledger.closing import entry_date_resolve
from ledger.locks import PostingLocks
from ledger.models import Account, EntryKind, PolicyKind, new_posting_id
from ledger.posting import statements
from ledger.posting.claim import lock_accounts_for_posting
from ledger.posting.presenters import (
    EntryRow,
    LineRow,
    entry_document,
    lines_document,
    one_statement_body,
    one_statement_size,
    posting_body,
)
from ledger.posting.rules import LineSpec, evaluate, lines_validate, signed
from ledger.posting_cache import (
    CachedAccount,
    posting_cache_forget,
    posting_cache_get,
    posting_cache_learn,
    posting_cache_warm,
)
from ledger.services.boundary import BoundaryOutcome, Posted, boundary_run


def entry_post(
    *, actor: Actor, tenant: str, idempotency_key: str, req_hash: str, lines: list[LineSpec],
    external_reference: str = "", source_event: str = "", description: str = "",
    effective_at: dt.datetime | None = None, metadata: dict[str, Any] | None = None,
    kind: str = EntryKind.STANDARD, reversal_of_id: int | None = None,
    operation: str = "ledger_entry.create", event_type: str = "ledger.entry.created",
) -> BoundaryOutcome:
    """Post one balanced entry through the posting boundary (see the module)."""
    lines_validate(lines)
    effective_at = effective_at or timezone.now()
    # Whether the caller holds a transaction open around this posting: the
    # one fact about the connection the posting depends on, read here only.
    own_transaction = not connection.in_atomic_block
    posting: dict[str, Any] = {
        "actor": actor, "tenant": tenant, "idempotency_key": idempotency_key, "req_hash": req_hash,
        "lines": lines, "external_reference": external_reference, "source_event": source_event,
        "description": description, "effective_at": effective_at, "metadata": metadata, "kind": kind,
        "reversal_of_id": reversal_of_id, "operation": operation, "event_type": event_type}
    if own_transaction:
        answered = one_statement_post(**posting)
        if answered is not None:
            return answered

    def work(locks: PostingLocks) -> Posted:
        posting_cache_learn(schema=connection.schema_name, locks=locks)
        return entry_write(**posting, finish_claim=True, locks=locks)

    def on_rejected(rejection: errors.PolicyRejected) -> None:
        rejection_record(actor=actor, operation=operation, idempotency_key=idempotency_key, rejection=rejection,
                         accounts=account_codes([ln.account for ln in lines]))

    return boundary_run(key=idempotency_key, operation=operation, req_hash=req_hash, actor=actor, work=work,
                        on_rejected=on_rejected, lock_refs=[(ln.account, ln.side) for ln in lines],
                        retryable=own_transaction)


def _entry_row(
    *, entry_id: int, actor: Actor, idempotency_key: str, req_hash: str, external_reference: str,
    source_event: str, description: str, effective_at: dt.datetime, now: dt.datetime,
    metadata: dict[str, Any] | None, kind: str, reversal_of_id: int | None, decisions: list[dict[str, Any]],
    line_count: int,
) -> EntryRow:
    return EntryRow(
        id=entry_id, posting_id=new_posting_id(), kind=kind, idempotency_key=idempotency_key,
        request_hash=req_hash, external_reference=external_reference, source_event=source_event,
        description=description, effective_at=effective_at, created_at=now, metadata=metadata or {},
        actor_kind=actor.kind, actor_ref=actor.ref, correlation_id=get_correlation_id(), policy_decisions=decisions,
        reversal_of_id=reversal_of_id, line_count=line_count,
    )


def _audit_part(*, actor: Actor, operation: str, audit_action: str | None, entry: EntryRow,
                decisions: list[dict[str, Any]], codes: set[str], source_event: str,
                **where: str) -> tuple[str, dict[str, Any]]:
    """The entry's audit row as a CTE part (`au`)."""
    sql, params, _ = audit_cte(
        actor=actor, action=audit_action or operation.replace("ledger_entry.create", "ledger_entry.posted"),
        target_type="ledger_entry", target_id=where.pop("target_id", entry.id), policy_context=decisions,
        policy_context_sql="(%(e)s::jsonb -> 'policy_decisions')",
        metadata={"idempotency_key": entry.idempotency_key, "posting_id": entry.posting_id,
                  "accounts": sorted(codes), "source_event": source_event},
        **where,
    )
    return sql, params


# -- 2. The one-statement posting -------------------------------------------------------------------


def one_statement_post(
    *, actor: Actor, tenant: str, idempotency_key: str, req_hash: str, lines: list[LineSpec],
    external_reference: str, source_event: str, description: str, effective_at: dt.datetime,
    metadata: dict[str, Any] | None, kind: str, reversal_of_id: int | None, operation: str, event_type: str,
) -> BoundaryOutcome | None:
    """A new key posted in one statement, in its own transaction: no BEGIN,
    no COMMIT, no claim statement before the write, and the accounts locked
    only from that statement's middle to its commit.

    Decided on what ledger.posting_cache holds of the accounts and their
    policies, and only where nothing rests on a balance: every account is
    cached, open as far as the cache knows, and no no-negative-available
    policy guards an account a line takes money from (those are decided on
    a locked row by the full path). The statement confirms under the lock
    that what the decision rested on still holds.

    Returns None, having written nothing, whenever the full path must
    answer: a key already taken (a replay), anything the cache does not
    know or does not allow, a refusal of any kind (a remembered policy
    rejection and its evidence are the full path's), and any error from the
    statement (a changed account or policy, a period closed since, a
    duplicate committed meanwhile); the full path then decides afresh."""
    schema = connection.schema_name
    cache = posting_cache_get(schema) or posting_cache_warm(schema=schema)
    if cache.closed_through is not None and effective_at < cache.closed_through:
        return None
    by_ref: dict[int | str, CachedAccount] = {}
    for ln in lines:
        acc = cache.accounts.get(ln.account)
        if acc is None:
            return None
        by_ref[ln.account] = acc
    accounts = {acc.id: acc for acc in by_ref.values()}
    policies = cache.policies_for(list(accounts.values()))
    guarded = {a for p, linked in policies if p.kind == PolicyKind.NO_NEGATIVE_AVAILABLE
               for a in (accounts if p.applies_to_all else linked)}
    if any(by_ref[ln.account].id in guarded and ln.side != by_ref[ln.account].normal_side for ln in lines):
        return None
    # The cached rows stand in for the claim's: they carry all evaluate
    # reads of an account but its balances, and no decision left here rests
    # on a balance (guarded postings took the full path above).
    view = PostingLocks(by_ref=by_ref, policies=policies, entry_id=0,  # type: ignore[arg-type]
                        closed_through=cache.closed_through, policy_epoch=cache.epoch)
    try:
        evaluated = evaluate(lines, view, None, late=True)
    except core_errors.ZentraError:  # unknown account, currency mismatch: the full path words it
        return None
    if evaluated is None:
        return None
    _, decisions = evaluated
    entry = _entry_row(
        entry_id=0, actor=actor, idempotency_key=idempotency_key, req_hash=req_hash,
        external_reference=external_reference, source_event=source_event, description=description,
        effective_at=effective_at, now=timezone.now(), metadata=metadata, kind=kind,
        reversal_of_id=reversal_of_id, decisions=decisions, line_count=len(lines))
    body = one_statement_body(entry, tenant=tenant)
    body_json = json_compact(body)
    codes = [by_ref[ln.account].code for ln in lines] + [a.code for a in accounts.values()]
    if one_statement_size(body_json, codes) > settings.WEBHOOKS_MAX_PAYLOAD_BYTES:
        return None  # near the event size limit: the full path measures the real payload
    deltas: dict[int, int] = defaultdict(int)
    for ln in lines:
        deltas[by_ref[ln.account].id] += signed(by_ref[ln.account], ln.side, ln.amount_minor)
    ids = sorted(accounts)
    params: dict[str, Any] = {
        "key": idempotency_key, "operation": operation, "req_hash": req_hash, "actor_ref": actor.ref,
        "correlation_id": entry.correlation_id, "epoch": cache.epoch,
        "e": entry_document(entry, with_id=False),
        "l": lines_document([(ln, by_ref[ln.account]) for ln in lines]),
        "ids": pg_array(ids), "fp": pg_array([accounts[i].fingerprint for i in ids]),
        "deltas": pg_array([deltas[i] for i in ids]), "payload": body_json,
    }
    audit_sql, audit_params = _audit_part(
        actor=actor, operation=operation, audit_action=None, entry=entry, decisions=decisions,
        codes={a.code for a in accounts.values()}, source_event=source_event,
        target_id="", target_id_sql="e.id::text", from_sql="e")
    event_sql, event_params, event = event_cte(type=event_type, payload=body, actor=actor, payload_json=body_json,
                                               payload_sql="pl.payload", from_sql="pl")
    params |= audit_params | event_params | {"rec_extra": json.dumps({"event": event.type, "event_id": event.public_id})}
    try:
        with hot_execute(statements.one_statement_posting(audit_sql, event_sql), params) as cur:
            fresh, entry_id, payload, deliveries, _ = cur.fetchone()
    except DatabaseError as exc:
        if sqlstate(exc) == LOCK_NOT_AVAILABLE:  # the key's original is still running
            raise_mapped(exc, idempotency_key=idempotency_key)
        posting_cache_forget(schema)
        return None
    if not fresh:
        return None
    if deliveries:
        fanout_made()  # outside a transaction: at once, the statement has committed
    # The record's body as stored (jsonb's key order), so the replays answer the same bytes.
    return BoundaryOutcome(status=201, body=json.loads(payload), replayed=False, entry_id=entry_id)


# -- 3. The full path's write ----------------------------------------------------------------------


def entry_write(
    *, actor: Actor, tenant: str, idempotency_key: str, req_hash: str, lines: list[LineSpec],
    external_reference: str = "", source_event: str = "", description: str = "",
    effective_at: dt.datetime | None = None, metadata: dict[str, Any] | None = None,
    kind: str = EntryKind.STANDARD, reversal_of_id: int | None = None,
    operation: str = "ledger_entry.create", event_type: str = "ledger.entry.created",
    audit_action: str | None = None, available_adjust: dict[int, int] | None = None,
    extra_work: Callable[[Any], None] | None = None, body_extra: dict[str, Any] | None = None,
    finish_claim: bool = False, locks: PostingLocks | None = None,
) -> Posted:
    """Write one balanced entry inside the caller's transaction, after the
    caller claimed the key (boundary_run's `work`). Lines must already pass
    lines_validate.

    `available_adjust` adds to the available-balance change policies see, for
    postings whose lines are not the whole story (a hold capture also lowers
    pending). `extra_work(entry)` lets other money services add their own
    rows in the same transaction; `entry` is the stored row's values
    (EntryRow), not a model instance. `body_extra` joins the response body and
    the event payload. `finish_claim`: this entry's body is the boundary's
    response, so the claim is completed in the same statement.
    `locks`: the accounts as the boundary's claim read them, some or all
    of them locked (claim.claim_and_lock_for_posting); without it, every
    account is locked here.

    Without extra_work the entry is one statement: entry + lines + event +
    deliveries + audit (+ the claim) in one INSERT ... WITH. Every number
    in the response is computed before the write from the rows as read.
    Where all were locked, those are the balances the line trigger stamps;
    where some were only read, the write locks them and adds whatever moved
    since (statements.late_lock_cte), so answer and stored lines agree either way."""
    # Unknown accounts and currency mismatches raise plain errors: the claim
    # rolls back with them, so a validation error is never remembered.
    refs = [ln.account for ln in lines]
    if locks is None:
        locks = lock_accounts_for_posting(refs)
    now = timezone.now()
    # Dated in closed books: refused (the claim rolls back with the error,
    # so nothing is remembered) or moved to the first open period, by the
    # tenant's rule (ledger.closing).
    effective_at, metadata = entry_date_resolve(effective_at=effective_at or now, metadata=metadata,
                                                watermark=locks.closed_through)

    # Decide. A late lock (the write locks what the claim only read) is for
    # the one-statement write; extra_work writes in steps, so it locks first.
    late = not locks.all_locked and extra_work is None
    evaluated = evaluate(lines, locks, available_adjust, late=late) if late or locks.all_locked else None
    if evaluated is None:
        # A decision rests on an account the claim only read (or refuses the
        # posting): lock everything now and decide on the locked rows.
        locks = replace(lock_accounts_for_posting(refs), entry_id=locks.entry_id)
        late = False
        evaluated = evaluate(lines, locks, available_adjust, late=False)
    by_ref = locks.by_ref
    accounts, decisions = evaluated

    # The rows, and the balances they leave, as computed from the rows read.
    entry = _entry_row(
        entry_id=locks.entry_id, actor=actor, idempotency_key=idempotency_key, req_hash=req_hash,
        external_reference=external_reference, source_event=source_event, description=description,
        effective_at=effective_at, now=now, metadata=metadata, kind=kind, reversal_of_id=reversal_of_id,
        decisions=decisions, line_count=len(lines))
    running = {acc_id: acc.posted_balance for acc_id, acc in accounts.items()}
    rows: list[tuple[LineRow, Any]] = []
    for ln in lines:
        acc = by_ref[ln.account]
        running[acc.id] += signed(acc, ln.side, ln.amount_minor)
        rows.append((LineRow(ln.side, ln.amount_minor, ln.currency, running[acc.id]), acc))
    params: dict[str, Any] = {"e": entry_document(entry), "e_id": entry.id, "l": lines_document(rows)}
    pending = {acc_id: acc.pending_balance for acc_id, acc in accounts.items()}

    # The statement's parts: the entry (and lines) first.
    if extra_work is not None:
        # extra_work needs the entry row to exist (a hold capture names it).
        _write([statements.entry_cte(), statements.lines_cte()], params)
        extra_work(entry)
        # extra_work may have moved pending (a capture); report what is stored.
        pending = dict(Account.objects.filter(id__in=list(accounts)).values_list("id", "pending_balance"))
        parts = []
    elif late:
        parts = [statements.entry_cte()]  # the lock, the lines and the audit row follow below
    else:
        parts = [statements.entry_cte(), statements.lines_cte()]

    payload = posting_body(entry, rows, tenant=tenant, accounts=accounts, posted=running, pending=pending,
                           body_extra=body_extra)
    payload_json = json_compact(payload)
    if late:
        # The balances above are as the claim read them; the write adds what
        # moved since, under its lock (statements.late_lock_cte).
        read = [accounts[i] for i in sorted(accounts)]
        params |= {"payload": payload_json, "lk_ids": pg_array([a.id for a in read]),
                   # what the decisions rested on: an open account, its currency and normal side
                   "lk_fp": pg_array([f"open {a.currency} {a.normal_side}" for a in read]),
                   "lk_posted": pg_array([a.posted_balance for a in read]),
                   "lk_pending": pg_array([a.pending_balance for a in read])}
    event_sql, event_params, event = event_cte(type=event_type, payload=payload, actor=actor, payload_json=payload_json,
                                               payload_sql=statements.LATE_PAYLOAD if late else None)
    audit_sql, audit_params = _audit_part(
        actor=actor, operation=operation, audit_action=audit_action, entry=entry, decisions=decisions,
        codes={acc.code for _, acc in rows}, source_event=source_event)
    params |= event_params | audit_params
    extra = {"event": event.type, "event_id": event.public_id}
    if late:
        # Only what needs the locked rows runs under the lock: the entry and
        # the audit row go in first (`lk` waits for them), then the lines
        # (after `chk`), the event (its payload comes from `chk`) and the claim.
        parts += [audit_sql, statements.late_lock_cte(), statements.lines_cte(gate="chk"), event_sql]
    else:
        parts += [event_sql, audit_sql]
    if finish_claim:
        parts.append(statements.record_finish_cte())
        params["rec_extra"], params["rec_key"] = json.dumps(extra), idempotency_key

    # Write, and answer.
    deliveries, rebased = _write(parts, params, returns=statements.WRITE_RETURNS_LATE if late
                                 else statements.WRITE_RETURNS)
    if deliveries:
        fanout_made()
    if rebased is not None:  # other postings moved these accounts since the claim read them
        payload = json.loads(rebased)
    return Posted(status=201, body=payload | extra, entry_id=entry.id, record_done=finish_claim)


def _write(parts: list[str], params: dict[str, Any], *,
           returns: str = statements.WRITE_RETURNS_NOTHING) -> tuple[int, str | None]:
    """Run CTE parts as one statement (statements.write); returns how many
    webhook deliveries it created, and the rebased payload when a late lock
    found balances moved (else None)."""
    with database_errors_mapped(), hot_execute(statements.write(tuple(parts), returns), params) as cur:
        return cur.fetchone()


# -- Refusals ---------------------------------------------------------------------------------------


def account_codes(refs: list[int | str]) -> list[str]:
    ids = [r for r in refs if isinstance(r, int)]
    codes = [r for r in refs if isinstance(r, str)]
    return sorted(Account.objects.filter(Q(id__in=ids) | Q(code__in=codes)).values_list("code", flat=True))


def rejection_record(
    *, actor: Actor, operation: str, idempotency_key: str, rejection: errors.PolicyRejected, accounts: list[str],
) -> None:
    """Evidence for a remembered policy rejection: an audit event and a
    `policy.rejected` outbox event, committed with the boundary record."""
    audit_record(
        actor=actor, action=f"{operation}.rejected", target_type="idempotency_key", target_id=idempotency_key,
        policy_context=rejection.extra.get("decisions"),
        metadata={"code": rejection.code, "detail": rejection.detail, "accounts": accounts},
    )
    event_emit(type="policy.rejected", payload={
        "operation": operation, "idempotency_key": idempotency_key, "code": rejection.code,
        "detail": rejection.detail, "policy": rejection.extra.get("policy"), "rule": rejection.extra.get("rule"),
    }, actor=actor)
