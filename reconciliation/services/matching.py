"""Matching a stored statement against the ledger, set-based in SQL.

The statement is COPYed into a temporary table, the ledger side (every entry
touching the run's account in the period, plus the window, plus any entry
whose reference the statement names) into another, and a handful of
INSERT ... SELECT joins pair them. Python never holds more than one batch of
lines, whatever the size of the statement or the ledger.

Rules, in order (docs/reconciliation.md):
1. reference: a line and an entry with the same reference, currency and
   amount; then the same reference alone (-> amount_drift / currency_drift).
   Lines and entries sharing a reference pair up in line order / time order.
2. duplicates: an unpaired line repeating a reference that another line of
   the statement already carries -> duplicate_in_statement.
3. amount + currency within the date window (|effective_at - booked_at| <=
   window), where the line or the entry has no reference (two different
   references are two different transactions): each remaining line takes the
   nearest remaining entry of the same amount; an entry wanted by several
   lines goes to the nearest line; repeat.
Unpaired lines are missing_in_ledger; unpaired entries effective inside the
statement period are missing_at_provider.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import psycopg
from django.db import DataError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from audit.services.audit import audit_record
from reconciliation import errors
from events.services import event_emit

from ..formats import statement_lines
from ..models import ItemKind, ItemStatus, ReconciliationItem, ReconciliationRun, RunStatus, StatementChunk
from ..presenters import run_counts

log = logging.getLogger("zentra.reconciliation")

PROGRESS_LINES = 1000  # how often to consider a progress write (at most one per PROGRESS_EVERY)
NEAREST_ROUNDS = 12
RANK_ROUNDS = 4

RUN_TABLE = ReconciliationRun._meta.db_table
ITEM_TABLE = ReconciliationItem._meta.db_table
CHUNK_TABLE = StatementChunk._meta.db_table


class _Side:
    """A second, autocommit connection for what must not wait for the run's
    transaction: progress (`GET /v1/reconciliations/{id}` must see
    `processing` and `lines_processed` move while the run is open) and
    reading the stored file while the main connection is busy with COPY."""

    PROGRESS_EVERY = 0.5  # seconds

    def __init__(self, *, schema: str, run_id: int) -> None:
        params = {k: v for k, v in connection.get_connection_params().items()
                  if k not in ("cursor_factory", "context", "prepare_threshold")}  # Django's, not libpq's
        self._conn = psycopg.connect(**params, autocommit=True)
        # Progress is a heartbeat: losing the last one in a crash costs nothing.
        self._conn.execute("SET synchronous_commit = off")
        self._runs = f'"{schema}".{RUN_TABLE}'
        self._chunks = f'"{schema}".{CHUNK_TABLE}'
        self._run_id = run_id
        self._last = 0.0

    def start(self) -> None:
        self._conn.execute(
            f"UPDATE {self._runs} SET status = 'processing', attempts = attempts + 1, lines_processed = 0, "
            "started_at = coalesce(started_at, now()), heartbeat_at = now() "
            "WHERE id = %s AND status IN ('pending', 'processing')", [self._run_id])

    def progress(self, lines: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last >= self.PROGRESS_EVERY:
            self._last = now
            self._conn.execute(f"UPDATE {self._runs} SET lines_processed = %s, heartbeat_at = now() WHERE id = %s",
                               [lines, self._run_id])

    def chunks(self, run_id: int):
        """The stored file, in order, one chunk in memory at a time."""
        seq = 0
        while True:
            row = self._conn.execute(f"SELECT data FROM {self._chunks} WHERE run_id = %s AND seq = %s",
                                     [run_id, seq]).fetchone()
            if row is None:
                return
            yield row[0]
            seq += 1

    def close(self) -> None:
        self._conn.close()


class _Clock:
    """Seconds per phase, for the log line an operator reads when a run is slow."""

    def __init__(self) -> None:
        self.t, self.laps = time.perf_counter(), []

    def lap(self, name: str, result=None):
        now = time.perf_counter()
        self.laps.append(f"{name} {now - self.t:.2f}s")
        self.t = now
        return result

    def __str__(self) -> str:
        return ", ".join(self.laps)


def _load(cur, run: ReconciliationRun, side: _Side) -> int:
    cur.execute("""
        CREATE TEMP TABLE rec_line (
            line_no integer PRIMARY KEY, reference text NOT NULL, amount bigint NOT NULL, currency text NOT NULL,
            booked_at timestamptz NOT NULL, description text NOT NULL, details jsonb
        ) ON COMMIT DROP""")
    loaded = 0
    lines = statement_lines(side.chunks(run.source_run_id or run.pk), format=run.format,
                            amount_basis=run.amount_basis or "net")
    # One COPY for the whole file: rows stream to the server as they are
    # parsed (psycopg flushes every few KB), nothing accumulates here.
    with cur.cursor.copy("COPY rec_line (line_no, reference, amount, currency, booked_at, description, details) "
                         "FROM STDIN") as copy:
        for ln in lines:
            copy.write_row((ln.line_no, ln.reference, ln.amount_minor, ln.currency, ln.booked_at, ln.description,
                            json.dumps(ln.details) if ln.details else None))
            loaded += 1
            if loaded % PROGRESS_LINES == 0:
                side.progress(loaded)
    side.progress(loaded, final=True)
    cur.execute("ANALYZE rec_line")
    return loaded


def _ledger_side(cur, run: ReconciliationRun) -> None:
    account = run.account
    window = dt.timedelta(days=run.date_window_days)
    # Adjusting entries posted by earlier resolutions are folded into the
    # entry they corrected, so a re-run after an adjustment matches. The link
    # comes from our own items, never from entry metadata a client could write.
    cur.execute(f"""
        CREATE TEMP TABLE rec_entry ON COMMIT DROP AS
        WITH adj AS (
            SELECT i.adjusting_entry_id AS id, max(i.entry_id) AS adjusts
            FROM {ITEM_TABLE} i JOIN {RUN_TABLE} r ON r.id = i.run_id
            WHERE r.account_id = %(account)s AND i.adjusting_entry_id IS NOT NULL
            GROUP BY i.adjusting_entry_id
        ), ids AS (
            SELECT l.entry_id AS id FROM ledger_ledgerline l JOIN ledger_ledgerentry e ON e.id = l.entry_id
            WHERE l.account_id = %(account)s AND e.effective_at >= %(lo)s AND e.effective_at < %(hi)s
            UNION
            SELECT e.id FROM ledger_ledgerentry e
            WHERE e.external_reference IN (SELECT reference FROM rec_line WHERE reference <> '')
            UNION
            SELECT id FROM adj
        )
        SELECT e.id, e.external_reference AS reference, e.effective_at, adj.adjusts,
               sum(CASE WHEN l.side = %(normal)s THEN l.amount_minor ELSE -l.amount_minor END)::bigint AS amount
        FROM ids JOIN ledger_ledgerentry e ON e.id = ids.id
        JOIN ledger_ledgerline l ON l.entry_id = e.id AND l.account_id = %(account)s
        LEFT JOIN adj ON adj.id = e.id
        GROUP BY e.id, adj.adjusts""",
        {"account": account.pk, "lo": run.period_start - window, "hi": run.period_end + window,
         "normal": account.normal_side})
    cur.execute("""
        CREATE TEMP TABLE rec_group ON COMMIT DROP AS
        SELECT t.id AS entry_id, t.reference, t.effective_at, %(currency)s::text AS currency,
               (t.amount + coalesce(a.amount, 0))::bigint AS amount,
               (t.effective_at >= %(ps)s AND t.effective_at < %(pe)s) AS in_period
        FROM rec_entry t
        LEFT JOIN (SELECT adjusts, sum(amount) AS amount FROM rec_entry WHERE adjusts IS NOT NULL GROUP BY adjusts) a
            ON a.adjusts = t.id
        WHERE t.adjusts IS NULL""",
        {"currency": account.currency, "ps": run.period_start, "pe": run.period_end})
    cur.execute("ALTER TABLE rec_group ADD PRIMARY KEY (entry_id)")
    cur.execute("ANALYZE rec_group")


def _pair(cur, run: ReconciliationRun) -> None:
    window = dt.timedelta(days=run.date_window_days)
    # UNIQUE on both sides: one line matches one entry at most and vice versa,
    # enforced by the table rather than trusted to the queries.
    cur.execute("""CREATE TEMP TABLE rec_pair (line_no integer PRIMARY KEY, entry_id bigint NOT NULL UNIQUE,
                                               rule text NOT NULL) ON COMMIT DROP""")
    # 1a. Same reference, currency and amount.
    cur.execute("""
        INSERT INTO rec_pair (line_no, entry_id, rule)
        SELECT s.line_no, g.entry_id, 'reference'
        FROM (SELECT line_no, reference, currency, amount,
                     row_number() OVER (PARTITION BY reference, currency, amount ORDER BY line_no) AS rk
              FROM rec_line WHERE reference <> '') s
        JOIN (SELECT entry_id, reference, currency, amount,
                     row_number() OVER (PARTITION BY reference, currency, amount ORDER BY effective_at, entry_id) AS rk
              FROM rec_group WHERE reference <> '') g
          ON g.reference = s.reference AND g.currency = s.currency AND g.amount = s.amount AND g.rk = s.rk""")
    # 1b. Same reference, different amount or currency: drift.
    cur.execute("""
        INSERT INTO rec_pair (line_no, entry_id, rule)
        SELECT s.line_no, g.entry_id, 'reference'
        FROM (SELECT line_no, reference, row_number() OVER (PARTITION BY reference ORDER BY line_no) AS rk
              FROM rec_line l WHERE reference <> ''
                AND NOT EXISTS (SELECT 1 FROM rec_pair p WHERE p.line_no = l.line_no)) s
        JOIN (SELECT entry_id, reference, row_number() OVER (PARTITION BY reference ORDER BY effective_at, entry_id) AS rk
              FROM rec_group g WHERE reference <> ''
                AND NOT EXISTS (SELECT 1 FROM rec_pair p WHERE p.entry_id = g.entry_id)) g
          ON g.reference = s.reference AND g.rk = s.rk""")
    # 2. A reference the statement already accounted for, repeated.
    cur.execute("""
        CREATE TEMP TABLE rec_dup ON COMMIT DROP AS
        SELECT line_no, coalesce(first_paired, first_any) AS dup_of FROM (
            SELECT l.line_no, p.line_no IS NOT NULL AS paired,
                   min(l.line_no) FILTER (WHERE p.line_no IS NOT NULL) OVER w AS first_paired,
                   min(l.line_no) OVER w AS first_any
            FROM rec_line l LEFT JOIN rec_pair p ON p.line_no = l.line_no
            WHERE l.reference <> ''
            WINDOW w AS (PARTITION BY l.reference)) x
        WHERE NOT paired AND (first_paired IS NOT NULL OR line_no > first_any)""")
    # 3. Amount + currency within the window, nearest first.
    cur.execute("""
        CREATE TEMP TABLE rec_open ON COMMIT DROP AS
        SELECT line_no, reference, amount, booked_at FROM rec_line l
        WHERE currency = %(currency)s
          AND NOT EXISTS (SELECT 1 FROM rec_pair p WHERE p.line_no = l.line_no)
          AND NOT EXISTS (SELECT 1 FROM rec_dup d WHERE d.line_no = l.line_no)""", {"currency": run.account.currency})
    cur.execute("""
        CREATE TEMP TABLE rec_free ON COMMIT DROP AS
        SELECT entry_id, reference, amount, effective_at FROM rec_group g
        WHERE amount <> 0 AND NOT EXISTS (SELECT 1 FROM rec_pair p WHERE p.entry_id = g.entry_id)""")
    cur.execute("CREATE INDEX ON rec_free (amount, effective_at, entry_id)")
    cur.execute("ALTER TABLE rec_open ADD PRIMARY KEY (line_no)")
    cur.execute("ANALYZE rec_open")
    cur.execute("ANALYZE rec_free")
    params = {"w": window}
    nearest = """
        WITH cand AS (
            SELECT o.line_no, c.entry_id, c.dist FROM rec_open o
            CROSS JOIN LATERAL (
                SELECT * FROM (
                    (SELECT f.entry_id, o.booked_at - f.effective_at AS dist FROM rec_free f
                     WHERE f.amount = o.amount AND f.effective_at <= o.booked_at
                       AND f.effective_at >= o.booked_at - %(w)s AND (o.reference = '' OR f.reference = '')
                     ORDER BY f.effective_at DESC, f.entry_id DESC LIMIT 1)
                    UNION ALL
                    (SELECT f.entry_id, f.effective_at - o.booked_at FROM rec_free f
                     WHERE f.amount = o.amount AND f.effective_at > o.booked_at
                       AND f.effective_at <= o.booked_at + %(w)s AND (o.reference = '' OR f.reference = '')
                     ORDER BY f.effective_at, f.entry_id LIMIT 1)
                ) both_sides ORDER BY dist, entry_id LIMIT 1) c
        ), best AS (
            SELECT DISTINCT ON (entry_id) line_no, entry_id FROM cand ORDER BY entry_id, dist, line_no
        )"""
    # Ties on amount and time (a thousand identical lines at one instant) make
    # every line want the same entry, one pair per round: after a few rounds
    # the rest pair up in time order within each amount, still inside the window.
    rank = """
        WITH best AS (
            SELECT s.line_no, g.entry_id FROM
                (SELECT line_no, reference, amount, booked_at,
                        row_number() OVER (PARTITION BY amount ORDER BY booked_at, line_no) AS rk FROM rec_open) s
            JOIN (SELECT entry_id, reference, amount, effective_at,
                         row_number() OVER (PARTITION BY amount ORDER BY effective_at, entry_id) AS rk FROM rec_free) g
              ON g.amount = s.amount AND g.rk = s.rk
            WHERE g.effective_at BETWEEN s.booked_at - %(w)s AND s.booked_at + %(w)s
              AND (s.reference = '' OR g.reference = '')
        )"""
    apply = """, ins AS (
            INSERT INTO rec_pair (line_no, entry_id, rule) SELECT line_no, entry_id, 'amount_window' FROM best
            RETURNING line_no, entry_id
        ), drop_lines AS (DELETE FROM rec_open WHERE line_no IN (SELECT line_no FROM ins)),
           drop_entries AS (DELETE FROM rec_free WHERE entry_id IN (SELECT entry_id FROM ins))
        SELECT count(*) FROM ins"""

    def rounds(sql: str, limit: int) -> bool:
        """Run up to `limit` rounds; True when a round found nothing left to pair."""
        for _ in range(limit):
            cur.execute(sql + apply, params)
            if cur.fetchone()[0] == 0:
                return True
        return False

    if not rounds(nearest, NEAREST_ROUNDS):
        rounds(rank, RANK_ROUNDS)
        rounds(nearest, NEAREST_ROUNDS)


def _items(cur, run: ReconciliationRun) -> None:
    kinds = {k.name: k.value for k in ItemKind}
    cur.execute(f"""
        INSERT INTO {ITEM_TABLE} (run_id, kind, status, match_rule, line_no, reference, statement_amount,
            statement_currency, booked_at, description, statement_details, duplicate_of_line, entry_id,
            ledger_amount, ledger_currency, effective_at, difference, note, adjust_attempts, resolved_by)
        SELECT %(run)s, k.kind, CASE WHEN k.kind = %(matched)s THEN %(s_matched)s ELSE %(s_open)s END,
               coalesce(p.rule, ''), l.line_no, l.reference, l.amount, l.currency, l.booked_at, l.description,
               l.details, d.dup_of, g.entry_id, g.amount, coalesce(g.currency, ''), g.effective_at,
               CASE WHEN g.entry_id IS NULL THEN l.amount WHEN g.currency = l.currency THEN l.amount - g.amount END,
               '', 0, ''
        FROM rec_line l
        LEFT JOIN rec_pair p ON p.line_no = l.line_no
        LEFT JOIN rec_group g ON g.entry_id = p.entry_id
        LEFT JOIN rec_dup d ON d.line_no = l.line_no
        CROSS JOIN LATERAL (SELECT CASE
            WHEN d.line_no IS NOT NULL THEN %(duplicate)s
            WHEN g.entry_id IS NULL THEN %(missing_in_ledger)s
            WHEN g.currency <> l.currency THEN %(currency_drift)s
            WHEN g.amount <> l.amount THEN %(amount_drift)s
            ELSE %(matched)s END AS kind) k
        ORDER BY l.line_no""",
        {"run": run.pk, "matched": kinds["MATCHED"], "duplicate": kinds["DUPLICATE_IN_STATEMENT"],
         "missing_in_ledger": kinds["MISSING_IN_LEDGER"], "currency_drift": kinds["CURRENCY_DRIFT"],
         "amount_drift": kinds["AMOUNT_DRIFT"], "s_matched": ItemStatus.MATCHED, "s_open": ItemStatus.OPEN})
    cur.execute(f"""
        INSERT INTO {ITEM_TABLE} (run_id, kind, status, match_rule, reference, statement_currency, description,
            entry_id, ledger_amount, ledger_currency, effective_at, difference, note, adjust_attempts, resolved_by)
        SELECT %(run)s, %(kind)s, %(s_open)s, '', g.reference, '', '', g.entry_id, g.amount, g.currency,
               g.effective_at, -g.amount, '', 0, ''
        FROM rec_group g
        WHERE g.in_period AND g.amount <> 0 AND NOT EXISTS (SELECT 1 FROM rec_pair p WHERE p.entry_id = g.entry_id)
        ORDER BY g.effective_at, g.entry_id""",
        {"run": run.pk, "kind": ItemKind.MISSING_AT_PROVIDER, "s_open": ItemStatus.OPEN})
    if run.rerun_of_id:
        # An explanation given on the previous run still explains the same item.
        cur.execute(f"""
            UPDATE {ITEM_TABLE} i SET status = %(explained)s, note = prev.note, resolved_by = prev.resolved_by,
                   resolved_at = prev.resolved_at, carried_from_id = prev.id
            FROM {ITEM_TABLE} prev
            WHERE i.run_id = %(run)s AND prev.run_id = %(prev)s AND prev.status = %(explained)s
              AND i.status = %(open)s AND i.kind = prev.kind
              AND i.line_no IS NOT DISTINCT FROM prev.line_no AND i.entry_id IS NOT DISTINCT FROM prev.entry_id""",
            {"run": run.pk, "prev": run.rerun_of_id, "explained": ItemStatus.EXPLAINED, "open": ItemStatus.OPEN})


def _summary(cur, run: ReconciliationRun) -> tuple[dict[str, int], list[dict[str, Any]]]:
    cur.execute(f"SELECT kind, count(*) FROM {ITEM_TABLE} WHERE run_id = %s GROUP BY kind", [run.pk])
    counts = {kind: 0 for kind in ItemKind.values} | {k: n for k, n in cur.fetchall()}
    cur.execute("SELECT currency, sum(amount) FROM rec_line GROUP BY currency")
    statement = {c: int(s) for c, s in cur.fetchall()}
    cur.execute("""SELECT coalesce(sum(amount), 0) FROM rec_group g
                   WHERE g.in_period OR EXISTS (SELECT 1 FROM rec_pair p WHERE p.entry_id = g.entry_id)""")
    ledger = {run.account.currency: int(cur.fetchone()[0])}
    totals = [{"currency": c, "statement_total_minor": statement.get(c, 0), "ledger_total_minor": ledger.get(c, 0),
               "difference_minor": statement.get(c, 0) - ledger.get(c, 0)}
              for c in sorted(set(statement) | set(ledger))]
    return counts, totals


def reconciliation_run_match(*, run_id: int, actor: Actor) -> ReconciliationRun:
    """Match one run's statement against the ledger and record the results.

    One transaction: the items, the run's completion, its audit event and the
    `reconciliation.completed` event commit together or not at all. A second
    delivery of the same task while this one runs leaves at once; one after it
    finished finds the run completed and does nothing."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))",
                        [f"recon-run:{connection.schema_name}:{run_id}"])
            if not cur.fetchone()[0]:
                return ReconciliationRun.objects.select_related("account").get(pk=run_id)
        run = ReconciliationRun.objects.select_related("account").get(pk=run_id)
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return run
        side = _Side(schema=connection.schema_name, run_id=run.pk)
        try:
            side.start()
            try:
                with transaction.atomic(), connection.cursor() as cur:
                    clock = _Clock()
                    loaded = clock.lap("load", _load(cur, run, side))
                    clock.lap("ledger", _ledger_side(cur, run))
                    clock.lap("pair", _pair(cur, run))
                    clock.lap("items", _items(cur, run))
                    counts, totals = clock.lap("summary", _summary(cur, run))
                    log.info("reconciliation %s: %d lines, %s", run.pk, loaded, clock)
            except errors.StatementInvalid as exc:
                # Validated at upload, so only a parser change since then gets
                # here; the savepoint has dropped every row of this attempt.
                return _fail(run, actor, exc.to_problem())
            except DataError as exc:
                # Amounts near 2^63 whose difference overflows a bigint: fail
                # the run with a reason instead of retrying it forever.
                return _fail(run, actor, errors.StatementAmountInvalid(
                    f"An amount is too large to compare with the ledger ({exc.__cause__ or exc}).").to_problem())
        finally:
            side.close()
        now = timezone.now()
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.COMPLETED, lines_processed=loaded, counts=counts, totals=totals, error=None,
            completed_at=now, heartbeat_at=now)
        run.refresh_from_db()
        summary = {"id": run.pk, "account": run.account.code, "account_id": run.account_id, "format": run.format,
                   "status": run.status, "lines_total": run.lines_total, "counts": run_counts(run),
                   "totals": totals, "file_sha256": run.file_sha256, "rerun_of": run.rerun_of_id}
        audit_record(actor=actor, action="reconciliation.matched", target_type="reconciliation_run",
                     target_id=run.pk, after=summary, metadata={"requested_by": run.actor_ref})
        event_emit(type="reconciliation.completed", payload={"object": "reconciliation"} | summary, actor=actor)
        return run


def _fail(run: ReconciliationRun, actor: Actor, problem: dict[str, Any]) -> ReconciliationRun:
    now = timezone.now()
    ReconciliationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=problem, completed_at=now,
                                                       heartbeat_at=now)
    run.refresh_from_db()
    audit_record(actor=actor, action="reconciliation.failed", target_type="reconciliation_run", target_id=run.pk,
                 after={"status": run.status, "error": problem}, metadata={"requested_by": run.actor_ref})
    return run


def reconciliation_run_abandon(*, run_id: int, actor: Actor, reason: str) -> ReconciliationRun:
    """Give up on a run whose worker keeps dying (the sweep calls this after
    too many attempts), so it does not stay `processing` forever."""
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().select_related("account").get(pk=run_id)
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return run
        return _fail(run, actor, errors.ReconciliationAbandoned(reason, attempts=run.attempts).to_problem())
