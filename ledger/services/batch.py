"""Batch posting: up to 1000 entries in one request.

- mode "atomic": one transaction. Every key is claimed in one statement, every
  account of the batch is locked once (pk order), policies are evaluated item
  by item on running balances in memory, and entries, lines, audit rows and
  boundary records are written with one statement each. Any failing item
  fails the batch with that item's problem, naming it; nothing is written
  (keys included, so a policy rejection inside an atomic batch is not
  remembered: the corrected batch may reuse the keys).
- mode "per_item": each entry goes through the ordinary posting boundary on
  its own; the answer lists each item's status and body.

Each item's key behaves as for POST /v1/ledger-entries, and an item's request
hash is that of the same body posted alone, so a batch item and a single post
with the same key and body replay each other.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record_many
from ledger import errors
from core import errors as core_errors
from ledger.closing import closed_books, entry_date_resolve
from core.locks import key_lock_id_sql, key_lock_sql
from ledger.locks import lock_accounts_by_ref
from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine, Side
from ledger.presenters import account_balances, entry_body
from core.locks import IN_FLIGHT_WAIT
from ledger.services.boundary import _replay, as_stored
from ledger.posting.rules import LineSpec, accounts_check, lines_validate, signed
from ledger.posting.post import entry_post
from ledger.services.policies import policies_evaluate, policies_for_accounts
from core.db_errors import database_errors_mapped, raise_mapped
from core.transactions import retry_on_conflict
from events.services import event_emit_many
from core.context import get_correlation_id
from core.ids import time_ordered_hex

MAX_BATCH = 1000
OPERATION = "ledger_entry.create"


@dataclass(frozen=True)
class BatchItem:
    idempotency_key: str
    req_hash: str
    lines: list[LineSpec]
    external_reference: str = ""
    source_event: str = ""
    description: str = ""
    effective_at: dt.datetime | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class ItemResult:
    index: int
    idempotency_key: str | None
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: str
    mode: str
    results: list[ItemResult] = field(default_factory=list)

    @property
    def posted(self) -> int:
        return sum(1 for r in self.results if r.status == 201 and not r.replayed)

    @property
    def replayed(self) -> int:
        return sum(1 for r in self.results if r.replayed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.status >= 400)


def _shape_check(items: list[BatchItem | core_errors.ZentraError]) -> None:
    if not items:
        raise core_errors.ValidationFailed("A batch has at least one entry.", field="entries")
    if len(items) > MAX_BATCH:
        raise errors.BatchTooLarge(f"A batch has at most {MAX_BATCH} entries; got {len(items)}.",
                                   max_entries=MAX_BATCH, entries=len(items))
    seen: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        if isinstance(item, BatchItem):
            seen[item.idempotency_key].append(i)
    dupes = {k: idx for k, idx in seen.items() if len(idx) > 1}
    if dupes:
        raise errors.BatchDuplicateKeys(
            f"Each entry of a batch needs its own idempotency key; repeated: {', '.join(sorted(dupes))}.",
            duplicates=[{"idempotency_key": k, "items": idx} for k, idx in sorted(dupes.items())],
        )


def entry_post_batch(
    *, actor: Actor, tenant: str, mode: str, items: list[BatchItem | core_errors.ZentraError],
) -> BatchOutcome:
    """`items` holds a BatchItem per entry, or the error that parsing that
    entry raised (reported per item in per_item mode, failing the batch in
    atomic mode)."""
    if mode not in ("atomic", "per_item"):
        raise core_errors.ValidationFailed("mode is 'atomic' or 'per_item'.", field="mode")
    _shape_check(items)
    batch_id = f"bat_{time_ordered_hex()}"
    if mode == "per_item":
        return BatchOutcome(batch_id=batch_id, mode=mode, results=_per_item(actor=actor, tenant=tenant, items=items))
    for i, item in enumerate(items):
        if isinstance(item, core_errors.ZentraError):
            raise errors.BatchItemFailed(index=i, idempotency_key=None, problem=item.to_problem())
        try:
            lines_validate(item.lines)
        except core_errors.ZentraError as exc:
            raise errors.BatchItemFailed(index=i, idempotency_key=item.idempotency_key, problem=exc.to_problem()) from exc
    return BatchOutcome(batch_id=batch_id, mode=mode,
                        results=_atomic(actor=actor, tenant=tenant, items=items, batch_id=batch_id))


def _per_item(*, actor: Actor, tenant: str, items: list[BatchItem | core_errors.ZentraError]) -> list[ItemResult]:
    results = []
    for i, item in enumerate(items):
        if isinstance(item, core_errors.ZentraError):
            results.append(ItemResult(index=i, idempotency_key=None, status=item.status, body=item.to_problem()))
            continue
        try:
            out = entry_post(
                actor=actor, tenant=tenant, idempotency_key=item.idempotency_key, req_hash=item.req_hash,
                lines=item.lines, external_reference=item.external_reference, source_event=item.source_event,
                description=item.description, effective_at=item.effective_at, metadata=item.metadata,
            )
        except core_errors.ZentraError as exc:
            results.append(ItemResult(index=i, idempotency_key=item.idempotency_key, status=exc.status,
                                      body=exc.to_problem()))
            continue
        results.append(ItemResult(index=i, idempotency_key=item.idempotency_key, status=out.status, body=out.body,
                                  replayed=out.replayed))
    return results


def _claim(items: list[BatchItem], actor: Actor) -> set[str]:
    """Claim every key in one statement; returns the keys claimed now. Keys go
    in sorted order so two batches sharing keys queue instead of deadlocking."""
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'")
        # Each key's lock (locks.key_lock_sql), in one order for every batch.
        cur.execute(f"SELECT count({key_lock_sql('h.k')}) FROM (SELECT k FROM unnest(%s::text[]) AS u(k) "
                    f"ORDER BY {key_lock_id_sql('k')}) AS h",
                    [[it.idempotency_key for it in items]])
        cur.execute(
            f"INSERT INTO {IdempotencyRecord._meta.db_table} "
            "(key, operation, request_hash, actor_ref, correlation_id, created_at, replay_count, replays, outcome) "
            "SELECT k, %s, h, %s, %s, now(), 0, '[]'::jsonb, '' FROM unnest(%s::text[], %s::text[]) AS u(k, h) "
            "ORDER BY k ON CONFLICT (key) DO NOTHING RETURNING key",
            [OPERATION, actor.ref, get_correlation_id(), [it.idempotency_key for it in items],
             [it.req_hash for it in items]],
        )
        return {row[0] for row in cur.fetchall()}


def _insert_entries_and_lines(entries: list[LedgerEntry], rows_per_entry: list[list[tuple[LedgerLine, Account]]]) -> None:
    """Entries and their lines in one statement; sets entry ids.

    The rows travel as one JSON document, parsed once by PostgreSQL in C: a
    bulk_create would send every JSON column as a jsonb[] array that psycopg
    escapes element by element in Python. Lines go in batch order, so the
    line trigger applies them in the order the balances above were computed
    (and computes the same balance_after). The lines read the entries'
    RETURNING rows, so every entry is inserted before its lines (the line
    trigger looks the entry up). The column list is this model's:
    a new LedgerEntry column needs a place here too (tests fail otherwise)."""
    doc = [{
        "posting_id": e.posting_id, "idempotency_key": e.idempotency_key, "request_hash": e.request_hash,
        "external_reference": e.external_reference, "source_event": e.source_event, "description": e.description,
        # isoformat keeps microseconds (DjangoJSONEncoder would cut them to milliseconds).
        "effective_at": e.effective_at.isoformat(), "metadata": e.metadata, "actor_kind": e.actor_kind, "actor_ref": e.actor_ref,
        "correlation_id": e.correlation_id, "policy_decisions": e.policy_decisions, "line_count": e.line_count,
        "lines": [{"a": ln.account_id, "s": ln.side, "m": ln.amount_minor, "c": ln.currency} for ln, _ in rows],
    } for e, rows in zip(entries, rows_per_entry)]
    entry_t, line_t = LedgerEntry._meta.db_table, LedgerLine._meta.db_table
    sql = f"""
        WITH src AS MATERIALIZED (
            SELECT nextval(pg_get_serial_sequence('{entry_t}', 'id')) AS id, x.*
            FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
                posting_id text, idempotency_key text, request_hash text, external_reference text,
                source_event text, description text, effective_at timestamptz, metadata jsonb, actor_kind text,
                actor_ref text, correlation_id text, policy_decisions jsonb, line_count int, lines jsonb))
            WITH ORDINALITY AS x(posting_id, idempotency_key, request_hash, external_reference, source_event,
                description, effective_at, metadata, actor_kind, actor_ref, correlation_id, policy_decisions,
                line_count, lines, n)),
        ins_entries AS (
            INSERT INTO {entry_t} (id, posting_id, kind, idempotency_key, request_hash, external_reference,
                source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref,
                correlation_id, policy_decisions, line_count)
            SELECT id, posting_id, 'standard', idempotency_key, request_hash, external_reference, source_event,
                   description, effective_at, %s, metadata, actor_kind, actor_ref, correlation_id, policy_decisions,
                   line_count
            FROM src ORDER BY n RETURNING id),
        ins_lines AS (
            INSERT INTO {line_t} (entry_id, account_id, side, amount_minor, currency)
            SELECT src.id, l.a, l.s, l.m, l.c
            FROM src JOIN ins_entries USING (id) CROSS JOIN LATERAL ROWS FROM (jsonb_to_recordset(src.lines) AS (a bigint, s text, m bigint, c text))
                 WITH ORDINALITY AS l(a, s, m, c, k)
            ORDER BY src.n, l.k)
        SELECT id FROM src ORDER BY n"""
    created_at = entries[0].created_at
    with database_errors_mapped(), connection.cursor() as cur:
        cur.execute(sql, [json.dumps(doc, cls=DjangoJSONEncoder), created_at])
        ids = [row[0] for row in cur.fetchall()]
    for entry, pk, rows in zip(entries, ids, rows_per_entry):
        entry.id = entry.pk = pk
        for line, _ in rows:
            line.entry = entry


def _item_date_resolve(item: BatchItem, *, now: dt.datetime, watermark: dt.datetime | None) -> BatchItem:
    """An atomic batch's item dated in closed books (ledger.closing); its key
    is freshly claimed, so there is nothing to replay."""
    effective_at = item.effective_at or now
    if watermark is None or effective_at >= watermark:
        return item
    moved, metadata = entry_date_resolve(effective_at=effective_at, metadata=item.metadata, watermark=watermark)
    return replace(item, effective_at=moved, metadata=metadata)


@retry_on_conflict
def _atomic(*, actor: Actor, tenant: str, items: list[BatchItem], batch_id: str) -> list[ItemResult]:
    try:
        with transaction.atomic():
            return _atomic_write(actor=actor, tenant=tenant, items=items, batch_id=batch_id)
    except OperationalError as exc:
        raise_mapped(exc)  # 55P03: a key is held by an in-flight request
        raise


def _atomic_write(*, actor: Actor, tenant: str, items: list[BatchItem], batch_id: str) -> list[ItemResult]:
    claimed = _claim(items, actor)
    results: dict[int, ItemResult] = {}
    fresh = [(i, it) for i, it in enumerate(items) if it.idempotency_key in claimed]
    if len(fresh) < len(items):
        records = {r.key: r for r in IdempotencyRecord.objects.filter(
            key__in=[it.idempotency_key for it in items if it.idempotency_key not in claimed])}
        for i, it in enumerate(items):
            if it.idempotency_key in claimed:
                continue
            rec = records[it.idempotency_key]
            try:
                out = _replay(rec, req_hash=it.req_hash, actor=actor)
            except core_errors.ZentraError as exc:
                raise errors.BatchItemFailed(index=i, idempotency_key=it.idempotency_key,
                                             problem=exc.to_problem()) from exc
            if out.is_problem:  # a rejection remembered from an earlier request
                raise errors.BatchItemFailed(index=i, idempotency_key=it.idempotency_key, problem=out.body)
            results[i] = ItemResult(index=i, idempotency_key=it.idempotency_key, status=out.status, body=out.body,
                                    replayed=True)
    if not fresh:
        return [results[i] for i in range(len(items))]

    by_ref = lock_accounts_by_ref({ln.account for _, it in fresh for ln in it.lines})
    locked = {acc.id: acc for acc in by_ref.values()}
    policies = policies_for_accounts(list(locked))
    now = timezone.now()
    correlation_id = get_correlation_id()
    entries: list[LedgerEntry] = []
    rows_per_entry: list[list[tuple[LedgerLine, Account]]] = []
    balances_per_entry: list[list[dict[str, Any]]] = []
    watermark = closed_books().watermark()  # read once per batch
    for i, it in fresh:
        try:
            it = _item_date_resolve(it, now=now, watermark=watermark)
            accounts_check(it.lines, by_ref)
            touched = {by_ref[ln.account].id: by_ref[ln.account] for ln in it.lines}
            deltas: dict[int, int] = defaultdict(int)
            amounts: dict[str, int] = defaultdict(int)
            for ln in it.lines:
                acc = by_ref[ln.account]
                deltas[acc.id] += signed(acc, ln.side, ln.amount_minor)
                if ln.side == Side.DEBIT:
                    amounts[ln.currency] += ln.amount_minor
            # Earlier items of the batch already moved these in-memory
            # balances, so each item is judged as if posted alone in order.
            decisions = policies_evaluate(accounts=touched, available_deltas=dict(deltas),
                                          amounts_by_currency=dict(amounts), policies=policies)
        except core_errors.ZentraError as exc:
            raise errors.BatchItemFailed(index=i, idempotency_key=it.idempotency_key, problem=exc.to_problem()) from exc
        entry = LedgerEntry(
            idempotency_key=it.idempotency_key, request_hash=it.req_hash, external_reference=it.external_reference,
            source_event=it.source_event, description=it.description, effective_at=it.effective_at or now,
            metadata=it.metadata or {}, actor_kind=actor.kind, actor_ref=actor.ref, correlation_id=correlation_id,
            policy_decisions=decisions, line_count=len(it.lines), created_at=now,
        )
        rows = []
        for ln in it.lines:
            acc = by_ref[ln.account]
            acc.posted_balance += signed(acc, ln.side, ln.amount_minor)
            acc.available_balance = acc.posted_balance - acc.pending_balance
            rows.append((LedgerLine(account=acc, side=ln.side, amount_minor=ln.amount_minor, currency=ln.currency,
                                    balance_after=acc.posted_balance), acc))
        entries.append(entry)
        rows_per_entry.append(rows)
        balances_per_entry.append([account_balances(touched[acc_id]) for acc_id in sorted(touched)])  # id order

    _insert_entries_and_lines(entries, rows_per_entry)
    payloads = [entry_body(entry, rows, tenant=tenant, balances=balances)
                for entry, rows, balances in zip(entries, rows_per_entry, balances_per_entry)]
    events = event_emit_many(events=[("ledger.entry.created", p) for p in payloads], actor=actor)
    audits, records = [], []
    for (i, it), entry, rows, payload, event in zip(fresh, entries, rows_per_entry, payloads, events):
        body = as_stored(payload | {"event": event.type, "event_id": event.public_id})
        results[i] = ItemResult(index=i, idempotency_key=it.idempotency_key, status=201, body=body)
        records.append({"key": it.idempotency_key, "body": body, "entry_id": entry.id})
        audits.append({
            "action": "ledger_entry.posted", "target_type": "ledger_entry", "target_id": entry.id,
            "policy_context": entry.policy_decisions,
            "metadata": {"idempotency_key": it.idempotency_key, "posting_id": entry.posting_id, "batch_id": batch_id,
                         "accounts": sorted({acc.code for _, acc in rows}), "source_event": it.source_event},
        })
    audit_record_many(actor=actor, records=audits)
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {IdempotencyRecord._meta.db_table} r SET response_status = 201, response_body = x.body, "
            "entry_id = x.entry_id, outcome = 'posted', completed_at = now() "
            "FROM jsonb_to_recordset(%s::jsonb) AS x(key text, body jsonb, entry_id bigint) WHERE r.key = x.key",
            [json.dumps(records, cls=DjangoJSONEncoder)],
        )
    return [results[i] for i in range(len(items))]
