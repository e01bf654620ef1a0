from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_cte, audit_record
from ledger import errors
from core import errors as core_errors
from ledger.currencies import is_known
from ledger.closing import entry_date_resolve
from ledger.locks import LockedAccount, PostingLocks, accounts_lock_sql, lock_accounts_for_posting
from core.locks import key_lock_sql
from ledger.models import (
    Account, EntryKind, IdempotencyRecord, LedgerEntry, LedgerLine, PolicyEpoch, PolicyKind, Side, new_posting_id,
)
from ledger.posting_cache import (
    CachedAccount, posting_cache_forget, posting_cache_get, posting_cache_learn, posting_cache_warm,
)
from ledger.presenters import account_balances, entry_body
from core.locks import IN_FLIGHT_WAIT
from ledger.services.boundary import BoundaryOutcome, Posted, boundary_run
from ledger.services.policies import policies_evaluate
from events.services import event_cte, event_emit, fanout_made
from core.db_errors import LOCK_NOT_AVAILABLE, database_errors_mapped, raise_mapped, sqlstate
from core.db import hot_execute, json_compact, pg_array
from core.context import get_correlation_id

MAX_LINES = 500
MAX_MINOR = 2**63 - 1
_SIDES = frozenset(Side.values)  # TextChoices.values builds a new list on every access


@dataclass(frozen=True)
class LineSpec:
    account: int | str  # id or code
    side: str
    amount_minor: int
    currency: str


def lines_validate(lines: list[LineSpec]) -> None:
    """Everything that can be checked without the database."""
    if len(lines) < 2:
        raise core_errors.ValidationFailed("An entry has at least 2 lines.", field="lines")
    if len(lines) > MAX_LINES:
        raise errors.TooManyLines(f"An entry has at most {MAX_LINES} lines; got {len(lines)}.", field="lines")
    net: dict[str, int] = defaultdict(int)
    for i, line in enumerate(lines):
        if type(line.amount_minor) is not int or not (0 < line.amount_minor <= MAX_MINOR):
            raise errors.InvalidAmount(field=f"lines[{i}].amount_minor")
        if line.side not in _SIDES:
            raise core_errors.ValidationFailed("side is 'debit' or 'credit'.", field=f"lines[{i}].side")
        if not is_known(line.currency):
            raise errors.UnknownCurrency(f"'{line.currency}' is not a known ISO 4217 currency.", field=f"lines[{i}].currency")
        net[line.currency] += line.amount_minor if line.side == Side.DEBIT else -line.amount_minor
    unbalanced = {c: d for c, d in net.items() if d}
    if unbalanced:
        raise errors.UnbalancedEntry(
            "Debits and credits differ: " + ", ".join(f"{c} debits - credits = {d}" for c, d in sorted(unbalanced.items())),
            imbalance=unbalanced,
        )


def accounts_check(lines: list[LineSpec], by_ref: dict[int | str, Account]) -> None:
    """Every line names an existing account in the line's currency."""
    missing = [r for r in dict.fromkeys(ln.account for ln in lines) if r not in by_ref]
    if missing:
        raise errors.AccountNotFound(f"Unknown accounts: {', '.join(map(str, missing))}.", accounts=missing)
    for i, ln in enumerate(lines):
        acc = by_ref[ln.account]
        if acc.currency != ln.currency:
            raise errors.CurrencyMismatch(
                f"Line {i} is in {ln.currency} but account '{acc.code}' is in {acc.currency}.", field=f"lines[{i}].currency"
            )


def signed(account: Account, side: str, amount: int) -> int:
    """The line's effect on the account's balance, in normal-side terms."""
    return amount if side == account.normal_side else -amount


def _evaluate(
    lines: list[LineSpec], locks: PostingLocks, available_adjust: dict[int, int] | None, *, late: bool,
) -> tuple[dict[int, LockedAccount], list[dict[str, Any]]] | None:
    """The accounts by id and the policy decisions to store. With `late`
    (some accounts only read, not locked), None when a decision would rest
    on an unlocked account's balance, or refuses the posting: a refusal is
    remembered under the key, so it is only ever made on locked rows. A
    pass on status, amount or currency rests on what the write re-checks
    under its lock (_late_lock_cte)."""
    by_ref = locks.by_ref
    accounts_check(lines, by_ref)
    accounts = {acc.id: acc for acc in by_ref.values()}
    deltas: dict[int, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for ln in lines:
        acc = by_ref[ln.account]
        deltas[acc.id] += signed(acc, ln.side, ln.amount_minor)
        if ln.side == Side.DEBIT:
            amounts[ln.currency] += ln.amount_minor
    for account_id, adjust in (available_adjust or {}).items():
        deltas[account_id] += adjust
    try:
        decisions = policies_evaluate(accounts=accounts, available_deltas=dict(deltas),
                                      amounts_by_currency=dict(amounts), policies=locks.policies)
    except errors.PolicyRejected:
        if late:
            return None
        raise
    if late:
        by_code = {acc.code: acc for acc in accounts.values()}
        if any(d["rule"] == PolicyKind.NO_NEGATIVE_AVAILABLE and not by_code[d["account"]].locked for d in decisions):
            return None
    return accounts, decisions


class _LineRow(NamedTuple):
    side: str
    amount_minor: int
    currency: str
    balance_after: int


@functools.cache
def _entry_lines_cte() -> str:
    """The entry and its lines as CTE parts `e` and `l`, each row set as one
    JSON document. `l` reads the entry's id from `e`, so the entry row is
    inserted first: the line trigger looks it up (and moves the balances,
    stamping balance_after); the deferred constraint trigger checks the
    entry at commit, whichever statement wrote it."""
    return f"{_entry_cte()}, {_lines_cte()}"


@functools.cache
def _entry_cte() -> str:
    entry = LedgerEntry._meta.db_table
    return f"e AS (INSERT INTO {entry} SELECT * FROM jsonb_populate_record(NULL::{entry}, %(e)s::jsonb) RETURNING id)"


@functools.cache
def _lines_cte(gate: str | None = None, returning: str | None = None) -> str:
    """`gate`: a one-row CTE the lines join, so it runs before them (the
    late lock's `chk`: the accounts are locked in pk order before the line
    trigger updates them in line order). `returning`: the stored lines'
    columns to return (balance_after as the line trigger stamped it)."""
    join = f", {gate}" if gate else ""
    ret = f" RETURNING {returning}" if returning else ""
    return (
        f"l AS (INSERT INTO {LedgerLine._meta.db_table} (entry_id, account_id, side, amount_minor, currency) "
        "SELECT (SELECT id FROM e), x.account_id, x.side, x.amount_minor, x.currency "
        "FROM ROWS FROM (jsonb_to_recordset(%(l)s::jsonb) AS (account_id bigint, side text, amount_minor bigint, "
        f"currency text)) WITH ORDINALITY AS x(account_id, side, amount_minor, currency, n){join} ORDER BY x.n{ret})"
    )


@functools.cache
def _late_lock_cte() -> str:
    """The write's own lock, for accounts the claim only read (late lock:
    a busy account is held for the end of this statement and the commit,
    not for the Python in between). `lk` locks every account of the entry
    in pk order (rows the claim locked are already ours), after the entry
    and audit rows (`e`, `au`) are in: those need no lock. `chk` refuses to
    go on if anything the decisions rested on changed since the read -- status,
    currency, normal side -- by raising a serialization failure, which
    retries the whole transaction (nothing half-written). Otherwise `bal` is
    '{}' when no balance moved since the read, else how far each moved
    ({account id: [posted, pending]}), for _LATE_PAYLOAD to add to the
    response's balances (zentra_payload_rebase); the line trigger stamps
    the same balances from the locked rows.

    The read values come as arrays, looked up by the account's position in
    `lk_ids`: plain aggregates, no join or sort to plan or run."""
    return (
        "lk AS MATERIALIZED (" + accounts_lock_sql(
            where="id = ANY(%(lk_ids)s::bigint[]) AND EXISTS (SELECT FROM e) AND EXISTS (SELECT FROM au)",
            columns="id, status, currency, normal_side, posted_balance, pending_balance") + "), "
        # only when a balance moved: a scalar subquery runs when its value is first needed
        "mv AS (SELECT jsonb_object_agg(k.id, jsonb_build_array("
        "k.posted_balance - (%(lk_posted)s::bigint[])[array_position(%(lk_ids)s::bigint[], k.id)], "
        "k.pending_balance - (%(lk_pending)s::bigint[])[array_position(%(lk_ids)s::bigint[], k.id)])) AS moved "
        "FROM lk k), "
        "chk AS MATERIALIZED (SELECT CASE "
        "WHEN count(*) <> cardinality(%(lk_ids)s::bigint[]) OR NOT bool_and(k.status || ' ' || k.currency || ' ' "
        "|| k.normal_side = (%(lk_fp)s::text[])[array_position(%(lk_ids)s::bigint[], k.id)]) "
        "THEN public.zentra_posting_stale() "
        "WHEN bool_and(k.posted_balance = (%(lk_posted)s::bigint[])[array_position(%(lk_ids)s::bigint[], k.id)] "
        "AND k.pending_balance = (%(lk_pending)s::bigint[])[array_position(%(lk_ids)s::bigint[], k.id)]) "
        "THEN '{}'::jsonb "
        "ELSE (SELECT moved FROM mv) END AS bal FROM lk k)"
    )


_LATE_PAYLOAD = ("(SELECT CASE WHEN bal = '{}'::jsonb THEN %(payload)s::jsonb "
                 "ELSE public.zentra_payload_rebase(%(payload)s::jsonb, bal) END FROM chk)")


@functools.cache
def _record_finish_cte() -> str:
    """The boundary record's outcome, written with the entry (see Posted.record_done):
    the event's payload (as `ev` stored it, not parsed again) and its name and id."""
    return (
        f"rec AS (UPDATE {IdempotencyRecord._meta.db_table} SET response_status = 201, "
        "response_body = (SELECT payload FROM ev) || %(rec_extra)s::jsonb, entry_id = %(e_id)s, "
        # statement_timestamp(), not clock_timestamp(): Citus refuses a
        # volatile function in an UPDATE of a distributed table.
        "outcome = 'posted', completed_at = statement_timestamp() WHERE key = %(rec_key)s)"
    )


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
    (_EntryRow), not a model instance. `body_extra` joins the response body and
    the event payload. `finish_claim`: this entry's body is the boundary's
    response, so the claim is completed in the same statement.
    `locks`: the accounts as the boundary's claim read them, some or all
    of them locked (claim_and_lock_for_posting); without it, every account
    is locked here.

    Without extra_work the entry is one statement: entry + lines + event +
    deliveries + audit (+ the claim) in one INSERT ... WITH. Every number
    in the response is computed before the write from the rows as read.
    Where all were locked, those are the balances the line trigger stamps;
    where some were only read, the write locks them and adds whatever moved
    since (_late_lock_cte), so answer and stored lines agree either way."""
    # Unknown accounts and currency mismatches raise plain errors: the claim
    # rolls back with them, so a validation error is never remembered.
    refs = [ln.account for ln in lines]
    if locks is None:
        locks = lock_accounts_for_posting(refs)
    now = timezone.now()
    effective_at = effective_at or now
    # Dated in closed books: refused (the claim rolls back with the error,
    # so nothing is remembered) or moved to the first open period, by the
    # tenant's rule (ledger.closing).
    effective_at, metadata = entry_date_resolve(effective_at=effective_at, metadata=metadata,
                                                watermark=locks.closed_through)
    # A late lock (the write locks what the claim only read) is for the
    # one-statement write; extra_work writes in steps, so it locks first.
    late = not locks.all_locked and extra_work is None
    evaluated = _evaluate(lines, locks, available_adjust, late=late) if late or locks.all_locked else None
    if evaluated is None:
        # A decision rests on an account the claim only read (or refuses the
        # posting): lock everything now and decide on the locked rows.
        locks = replace(lock_accounts_for_posting(refs), entry_id=locks.entry_id)
        late = False
        evaluated = _evaluate(lines, locks, available_adjust, late=False)
    by_ref = locks.by_ref
    accounts, decisions = evaluated
    # The entry as stored, column by column (no model instance: this is the
    # hottest path, and the row travels as one JSON document anyway).
    entry = _EntryRow(
        id=locks.entry_id, posting_id=new_posting_id(), kind=kind, idempotency_key=idempotency_key,
        request_hash=req_hash, external_reference=external_reference, source_event=source_event,
        description=description, effective_at=effective_at, created_at=now, metadata=metadata or {},
        actor_kind=actor.kind, actor_ref=actor.ref, correlation_id=get_correlation_id(), policy_decisions=decisions,
        reversal_of_id=reversal_of_id, line_count=len(lines),
    )
    running = {acc_id: acc.posted_balance for acc_id, acc in accounts.items()}
    rows: list[tuple[_LineRow, Any]] = []
    for ln in lines:
        acc = by_ref[ln.account]
        running[acc.id] += signed(acc, ln.side, ln.amount_minor)
        rows.append((_LineRow(ln.side, ln.amount_minor, ln.currency, running[acc.id]), acc))
    entry_doc = entry._asdict()
    entry_doc["effective_at"], entry_doc["created_at"] = effective_at.isoformat(), now.isoformat()
    params: dict[str, Any] = {
        "e": json_compact(entry_doc), "e_id": entry.id,
        "l": json_compact([{"account_id": acc.id, "side": ln.side, "amount_minor": ln.amount_minor,
                          "currency": ln.currency} for ln, acc in rows]),
    }
    pending = {acc_id: acc.pending_balance for acc_id, acc in accounts.items()}
    if extra_work is not None:
        # extra_work needs the entry row to exist (a hold capture names it).
        _write([_entry_lines_cte()], params)
        extra_work(entry)
        # extra_work may have moved pending (a capture); report what is stored.
        pending = dict(Account.objects.filter(id__in=list(accounts)).values_list("id", "pending_balance"))
        parts = []
    elif late:
        parts = [_entry_cte()]  # the lock, the lines and the audit row follow below
    else:
        parts = [_entry_lines_cte()]
    # In account id order, as the one-statement posting answers (_direct_sql's `pl`).
    balances = [account_balances(acc, posted=running[acc_id], pending=pending[acc_id])
                for acc_id, acc in sorted(accounts.items())]
    payload = entry_body(entry, rows, tenant=tenant, balances=balances) | (body_extra or {})
    payload_json = json_compact(payload)
    if late:
        # The balances above are as the claim read them; the write adds what
        # moved since, under its lock (_late_lock_cte).
        read = [accounts[i] for i in sorted(accounts)]
        params |= {"payload": payload_json, "lk_ids": pg_array([a.id for a in read]),
                   # what the decisions rested on: an open account, its currency and normal side
                   "lk_fp": pg_array([f"open {a.currency} {a.normal_side}" for a in read]),
                   "lk_posted": pg_array([a.posted_balance for a in read]),
                   "lk_pending": pg_array([a.pending_balance for a in read])}
    event_sql, event_params, event = event_cte(type=event_type, payload=payload, actor=actor, payload_json=payload_json,
                                               payload_sql=_LATE_PAYLOAD if late else None)
    audit_sql, audit_params, _ = audit_cte(
        actor=actor, action=audit_action or operation.replace("ledger_entry.create", "ledger_entry.posted"),
        target_type="ledger_entry", target_id=entry.id, policy_context=decisions,
        policy_context_sql="(%(e)s::jsonb -> 'policy_decisions')",
        metadata={"idempotency_key": idempotency_key, "posting_id": entry.posting_id,
                  "accounts": sorted({acc.code for _, acc in rows}), "source_event": source_event},
    )
    params |= event_params | audit_params
    extra = {"event": event.type, "event_id": event.public_id}
    if late:
        # Only what needs the locked rows runs under the lock: the entry and
        # the audit row go in first (`lk` waits for them), then the lines
        # (after `chk`), the event (its payload comes from `chk`) and the claim.
        parts += [audit_sql, _late_lock_cte(), _lines_cte(gate="chk"), event_sql]
    else:
        parts += [event_sql, audit_sql]
    if finish_claim:
        parts.append(_record_finish_cte())
        params["rec_extra"], params["rec_key"] = json.dumps(extra), idempotency_key
    deliveries, rebased = _write(parts, params, tail=_LATE_TAIL if late else _TAIL)
    if deliveries:
        fanout_made()
    if rebased is not None:  # other postings moved these accounts since the claim read them
        payload = json.loads(rebased)
    return Posted(status=201, body=payload | extra, entry_id=entry.id, record_done=finish_claim)


class _EntryRow(NamedTuple):
    """A LedgerEntry row as entry_write stores it (see LedgerEntry)."""

    id: int
    posting_id: str
    kind: str
    idempotency_key: str
    request_hash: str
    external_reference: str
    source_event: str
    description: str
    effective_at: dt.datetime
    created_at: dt.datetime
    metadata: dict[str, Any]
    actor_kind: str
    actor_ref: str
    correlation_id: str
    policy_decisions: list[dict[str, Any]]
    reversal_of_id: int | None
    line_count: int


_TAIL = "SELECT (SELECT count(*) FROM dl), NULL"
_LATE_TAIL = ("SELECT (SELECT count(*) FROM dl), "
              "(SELECT CASE WHEN bal = '{}'::jsonb THEN NULL ELSE (SELECT payload::text FROM ev) END FROM chk)")


@functools.cache
def _write_sql(parts: tuple[str, ...], tail: str) -> str:
    return f"WITH {', '.join(parts)} {tail}"


def _write(parts: list[str], params: dict[str, Any], *, tail: str = "SELECT 0, NULL") -> tuple[int, str | None]:
    """Run CTE parts as one statement; returns how many webhook deliveries
    it created, and the rebased payload when a late lock found balances
    moved (else None)."""
    with database_errors_mapped(), hot_execute(_write_sql(tuple(parts), tail), params) as cur:
        return cur.fetchone()


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


@functools.cache
def _direct_sql(audit_sql: str, event_sql: str) -> str:
    """The one-statement posting (_entry_post_direct), in the order it runs:

    - `ak`: the key's lock (locks.key_lock_sql), before anything else
      (as text: Citus cannot ship a void column between nodes);
      `ex`: whether the key is new. A taken key writes nothing below and
      the service replays it on the full path;
    - `e`, `au`: the entry (its id from the sequence here) and its audit
      row; they need no account lock, so they go in before `lk`;
    - `lk`: every account, locked in pk order; `chk` refuses (a
      serialization failure: nothing is written) unless each is still what
      the decisions were made on (code, status, currency, normal side) and
      the tenant's PolicyEpoch is the one its policies were read under;
    - `l`: the lines; the line trigger moves the balances and stamps
      balance_after, as on every path;
    - `pl`: the answer: the body Python built plus the entry id, the lines
      as stored and the balances after (the locked rows plus this entry's
      moves), so what is answered is what was stored, however busy the
      accounts were;
    - `ev`, `dl`: the outbox event (that answer as its payload) and its
      deliveries; `rec`: the boundary record, written once and complete.

    The final row raises when `rec` inserted nothing for a key `ex` found
    new (a duplicate committed while this statement waited for the key's
    lock): the whole statement is undone and the full path replays."""
    rec = IdempotencyRecord._meta.db_table
    ids, pos = "%(ids)s::bigint[]", "array_position(%(ids)s::bigint[], k.id)"
    return f"""WITH
        ak AS MATERIALIZED (SELECT set_config('lock_timeout', '{IN_FLIGHT_WAIT}', true) AS t,
                                   {key_lock_sql('%(key)s')}::text AS k),
        ex AS MATERIALIZED (SELECT NOT EXISTS (SELECT FROM {rec} WHERE key = %(key)s) AS fresh FROM ak),
        e AS (INSERT INTO {LedgerEntry._meta.db_table}
              SELECT * FROM jsonb_populate_record(NULL::{LedgerEntry._meta.db_table},
                  %(e)s::jsonb || jsonb_build_object('id', nextval('{LedgerEntry._meta.db_table}_id_seq')))
              WHERE (SELECT fresh FROM ex) RETURNING id),
        {audit_sql},
        lk AS MATERIALIZED ({accounts_lock_sql(
            where=f"id = ANY({ids}) AND EXISTS (SELECT FROM e) AND EXISTS (SELECT FROM au)",
            columns="id, code, status, currency, normal_side, posted_balance, pending_balance")}),
        chk AS MATERIALIZED (
            SELECT CASE WHEN count(*) <> cardinality({ids})
                        OR NOT bool_and(k.code || ' ' || k.status || ' ' || k.currency || ' ' || k.normal_side
                                        = (%(fp)s::text[])[{pos}])
                        OR (SELECT epoch FROM {PolicyEpoch._meta.db_table}) IS DISTINCT FROM %(epoch)s::bigint
                   THEN public.zentra_posting_stale() END AS stale
            FROM lk k HAVING count(*) > 0),
        {_lines_cte(gate="chk", returning="id, account_id, side, amount_minor, currency, balance_after")},
        pl AS (SELECT %(payload)s::jsonb || jsonb_build_object(
                   'id', e.id,
                   'lines', (SELECT jsonb_agg(jsonb_build_object(
                                 'account', k.code, 'account_id', l.account_id, 'side', l.side,
                                 'amount_minor', l.amount_minor, 'currency', l.currency,
                                 'balance_after', l.balance_after) ORDER BY l.id)
                             FROM l JOIN lk k ON k.id = l.account_id),
                   'balances', (SELECT jsonb_agg(jsonb_build_object(
                                    'account', k.code, 'account_id', k.id, 'currency', k.currency,
                                    'posted', k.posted_balance + (%(deltas)s::bigint[])[{pos}],
                                    'pending', k.pending_balance,
                                    'available', k.posted_balance + (%(deltas)s::bigint[])[{pos}] - k.pending_balance)
                                    ORDER BY k.id) FROM lk k)) AS payload
               FROM e),
        {event_sql},
        rec AS (INSERT INTO {rec} (key, operation, request_hash, actor_ref, correlation_id, created_at, replay_count,
                                   replays, outcome, response_status, response_body, entry_id, completed_at)
                SELECT %(key)s, %(operation)s, %(req_hash)s, %(actor_ref)s, %(correlation_id)s, now(), 0, '[]'::jsonb,
                       'posted', 201, ev.payload || %(rec_extra)s::jsonb, e.id, clock_timestamp() FROM ev, e
                ON CONFLICT (key) DO NOTHING RETURNING 1)
        SELECT (SELECT fresh FROM ex), (SELECT id FROM e), (SELECT (payload || %(rec_extra)s::jsonb)::text FROM ev),
               (SELECT count(*) FROM dl),
               CASE WHEN (SELECT fresh FROM ex) AND NOT EXISTS (SELECT FROM rec) THEN public.zentra_posting_stale() END"""


# What the statement adds to the body Python built (its id, lines and
# balances), at most, per line or account beside the account's code (which
# an escaping encoder writes in up to six characters each).
_DIRECT_PAYLOAD_ITEM = 200


def _entry_post_direct(
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
    that what the decision rested on still holds (_direct_sql).

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
    # The cached rows stand in for the claim's: they carry all _evaluate
    # reads of an account but its balances, and no decision left here rests
    # on a balance (guarded postings took the full path above).
    view = PostingLocks(by_ref=by_ref, policies=policies, entry_id=0,  # type: ignore[arg-type]
                        closed_through=cache.closed_through, policy_epoch=cache.epoch)
    try:
        evaluated = _evaluate(lines, view, None, late=True)
    except core_errors.ZentraError:  # unknown account, currency mismatch: the full path words it
        return None
    if evaluated is None:
        return None
    _, decisions = evaluated
    now = timezone.now()
    entry = _EntryRow(
        id=0, posting_id=new_posting_id(), kind=kind, idempotency_key=idempotency_key, request_hash=req_hash,
        external_reference=external_reference, source_event=source_event, description=description,
        effective_at=effective_at, created_at=now, metadata=metadata or {}, actor_kind=actor.kind,
        actor_ref=actor.ref, correlation_id=get_correlation_id(), policy_decisions=decisions,
        reversal_of_id=reversal_of_id, line_count=len(lines),
    )
    entry_doc = entry._asdict()
    del entry_doc["id"]
    entry_doc["effective_at"], entry_doc["created_at"] = effective_at.isoformat(), now.isoformat()
    body = entry_body(entry, [], tenant=tenant)
    del body["id"], body["lines"]
    body_json = json_compact(body)
    added = sum(_DIRECT_PAYLOAD_ITEM + 6 * len(a.code) for a in [by_ref[ln.account] for ln in lines]
                + list(accounts.values()))
    if len(body_json) + added > settings.WEBHOOKS_MAX_PAYLOAD_BYTES:
        return None  # near the event size limit: the full path measures the real payload
    deltas: dict[int, int] = defaultdict(int)
    for ln in lines:
        deltas[by_ref[ln.account].id] += signed(by_ref[ln.account], ln.side, ln.amount_minor)
    ids = sorted(accounts)
    params: dict[str, Any] = {
        "key": idempotency_key, "operation": operation, "req_hash": req_hash, "actor_ref": actor.ref,
        "correlation_id": entry.correlation_id, "epoch": cache.epoch,
        "e": json_compact(entry_doc),
        "l": json_compact([{"account_id": by_ref[ln.account].id, "side": ln.side, "amount_minor": ln.amount_minor,
                          "currency": ln.currency} for ln in lines]),
        "ids": pg_array(ids), "fp": pg_array([accounts[i].fingerprint for i in ids]),
        "deltas": pg_array([deltas[i] for i in ids]), "payload": body_json,
    }
    audit_sql, audit_params, _ = audit_cte(
        actor=actor, action=operation.replace("ledger_entry.create", "ledger_entry.posted"),
        target_type="ledger_entry", target_id="", policy_context=decisions,
        policy_context_sql="(%(e)s::jsonb -> 'policy_decisions')", target_id_sql="e.id::text", from_sql="e",
        metadata={"idempotency_key": idempotency_key, "posting_id": entry.posting_id,
                  "accounts": sorted({a.code for a in accounts.values()}), "source_event": source_event},
    )
    event_sql, event_params, event = event_cte(type=event_type, payload=body, actor=actor, payload_json=body_json,
                                               payload_sql="pl.payload", from_sql="pl")
    extra = {"event": event.type, "event_id": event.public_id}
    params |= audit_params | event_params | {"rec_extra": json.dumps(extra)}
    try:
        with hot_execute(_direct_sql(audit_sql, event_sql), params) as cur:
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


def entry_post(
    *, actor: Actor, tenant: str, idempotency_key: str, req_hash: str, lines: list[LineSpec],
    external_reference: str = "", source_event: str = "", description: str = "",
    effective_at: dt.datetime | None = None, metadata: dict[str, Any] | None = None,
    kind: str = EntryKind.STANDARD, reversal_of_id: int | None = None,
    operation: str = "ledger_entry.create", event_type: str = "ledger.entry.created",
) -> BoundaryOutcome:
    """Post one balanced entry through the posting boundary: the claim and
    the account locks in one statement, then the entry's one write."""
    lines_validate(lines)
    effective_at = effective_at or timezone.now()
    if not connection.in_atomic_block:
        # Inside a caller's transaction a failed statement would abort it:
        # the one-statement path needs a transaction of its own to give up.
        direct = _entry_post_direct(
            actor=actor, tenant=tenant, idempotency_key=idempotency_key, req_hash=req_hash, lines=lines,
            external_reference=external_reference, source_event=source_event, description=description,
            effective_at=effective_at, metadata=metadata, kind=kind, reversal_of_id=reversal_of_id,
            operation=operation, event_type=event_type)
        if direct is not None:
            return direct

    def work(locks: PostingLocks) -> Posted:
        posting_cache_learn(schema=connection.schema_name, locks=locks)
        return entry_write(
            actor=actor, tenant=tenant, idempotency_key=idempotency_key, req_hash=req_hash, lines=lines,
            external_reference=external_reference, source_event=source_event, description=description,
            effective_at=effective_at, metadata=metadata, kind=kind, reversal_of_id=reversal_of_id,
            operation=operation, event_type=event_type, finish_claim=True, locks=locks,
        )

    def on_rejected(rejection: errors.PolicyRejected) -> None:
        rejection_record(actor=actor, operation=operation, idempotency_key=idempotency_key, rejection=rejection,
                         accounts=account_codes([ln.account for ln in lines]))

    return boundary_run(key=idempotency_key, operation=operation, req_hash=req_hash, actor=actor, work=work,
                        on_rejected=on_rejected, lock_refs=[(ln.account, ln.side) for ln in lines])
