"""Every SQL statement a posting sends, by name, in the order a posting
meets them. Each is built once per process (functools.cache) from the
models' table names; the parameters are named (%(name)s) and documented
beside the statement that reads them.

Reading order:

1. ONE_STATEMENT_POSTING -- the posting of a new key over accounts the
   process already knows: everything in one statement, in its own
   transaction (ledger.posting.post.one_statement_post).
2. The full path, when that statement cannot answer: KEY_CLAIM_AND_READ
   claims the key and reads (locking some of) the accounts; then one
   WRITE of the entry built from the CTE parts below (ENTRY_CTE, LINES_CTE,
   LATE_LOCK_CTE, RECORD_FINISH_CTE) plus the audit and event parts their
   apps build.
3. ACCOUNTS_LOCK_AND_READ and CACHE_WARM_READ: the same read for callers
   that claimed their key themselves (holds, reversals), and for filling
   ledger.posting_cache.

Account row locks are spelled only by ledger.locks.accounts_lock_sql (pk
order, the one lock order); every statement here that locks accounts uses it.
"""
from __future__ import annotations

import functools

from core.locks import IN_FLIGHT_WAIT, key_lock_sql
from ledger.closing import closed_books, on_closed_books_register
from ledger.locks import accounts_lock_sql
from ledger.models import (
    Account,
    AccountPolicy,
    IdempotencyRecord,
    LedgerEntry,
    LedgerLine,
    Policy,
    PolicyEpoch,
    PolicyKind,
)

ACCOUNT = Account._meta.db_table
ENTRY = LedgerEntry._meta.db_table
LINE = LedgerLine._meta.db_table
RECORD = IdempotencyRecord._meta.db_table
EPOCH = PolicyEpoch._meta.db_table
ACCOUNT_COLUMNS = "id, code, currency, normal_side, status, posted_balance, pending_balance"


# -- 1. The one-statement posting ------------------------------------------------------------------


@functools.cache
def one_statement_posting(audit_sql: str, event_sql: str) -> str:
    """The one-statement posting (post.one_statement_post), in the order it runs:

    - `ak`: the key's lock (core.locks.key_lock_sql), before anything else
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
    lock): the whole statement is undone and the full path replays.

    Parameters: key, operation, req_hash, actor_ref, correlation_id (the
    record); e (the entry row as JSON, without id); l (the lines as JSON);
    ids, fp, deltas (per account in pk order: id, fingerprint as cached,
    posted-balance change); epoch (the PolicyEpoch decided under); payload
    (the body without id, lines, balances); rec_extra (event name and id
    for the record's body); plus the audit and event parts' own."""
    ids, pos = "%(ids)s::bigint[]", "array_position(%(ids)s::bigint[], k.id)"
    return f"""WITH
        ak AS MATERIALIZED (SELECT set_config('lock_timeout', '{IN_FLIGHT_WAIT}', true) AS t,
                                   {key_lock_sql('%(key)s')}::text AS k),
        ex AS MATERIALIZED (SELECT NOT EXISTS (SELECT FROM {RECORD} WHERE key = %(key)s) AS fresh FROM ak),
        e AS (INSERT INTO {ENTRY}
              SELECT * FROM jsonb_populate_record(NULL::{ENTRY},
                  %(e)s::jsonb || jsonb_build_object('id', nextval('{ENTRY}_id_seq')))
              WHERE (SELECT fresh FROM ex) RETURNING id),
        {audit_sql},
        lk AS MATERIALIZED ({accounts_lock_sql(
            where=f"id = ANY({ids}) AND EXISTS (SELECT FROM e) AND EXISTS (SELECT FROM au)",
            columns="id, code, status, currency, normal_side, posted_balance, pending_balance")}),
        chk AS MATERIALIZED (
            SELECT CASE WHEN count(*) <> cardinality({ids})
                        OR NOT bool_and(k.code || ' ' || k.status || ' ' || k.currency || ' ' || k.normal_side
                                        = (%(fp)s::text[])[{pos}])
                        OR (SELECT epoch FROM {EPOCH}) IS DISTINCT FROM %(epoch)s::bigint
                   THEN public.zentra_posting_stale() END AS stale
            FROM lk k HAVING count(*) > 0),
        {lines_cte(gate="chk", returning="id, account_id, side, amount_minor, currency, balance_after")},
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
        rec AS (INSERT INTO {RECORD} (key, operation, request_hash, actor_ref, correlation_id, created_at, replay_count,
                                   replays, outcome, response_status, response_body, entry_id, completed_at)
                SELECT %(key)s, %(operation)s, %(req_hash)s, %(actor_ref)s, %(correlation_id)s, now(), 0, '[]'::jsonb,
                       'posted', 201, ev.payload || %(rec_extra)s::jsonb, e.id, clock_timestamp() FROM ev, e
                ON CONFLICT (key) DO NOTHING RETURNING 1)
        SELECT (SELECT fresh FROM ex), (SELECT id FROM e), (SELECT (payload || %(rec_extra)s::jsonb)::text FROM ev),
               (SELECT count(*) FROM dl),
               CASE WHEN (SELECT fresh FROM ex) AND NOT EXISTS (SELECT FROM rec) THEN public.zentra_posting_stale() END"""


# -- 2. The full path: the key's claim and the accounts' read ---------------------------------------


@functools.cache
def key_claim() -> str:
    """The posting boundary's claim of a key (ledger.services.boundary):
    INSERT ... ON CONFLICT DO NOTHING RETURNING id. Only the claim may wait
    long -- a duplicate blocks on the key's unique index until the in-flight
    original commits -- so the lock timeout is set (transaction-local) by
    the row the INSERT reads, before the INSERT can wait.

    Parameters: key, operation, req_hash, actor_ref, correlation_id."""
    return f"""
        INSERT INTO {RECORD}
               (key, operation, request_hash, actor_ref, correlation_id, created_at, replay_count, replays, outcome)
        SELECT %(key)s, %(operation)s, %(req_hash)s, %(actor_ref)s, %(correlation_id)s, now(), 0, '[]'::jsonb, ''
        FROM (SELECT set_config('lock_timeout', '{IN_FLIGHT_WAIT}', true), {key_lock_sql('%(key)s')}) AS timeout
        ON CONFLICT (key) DO NOTHING RETURNING id"""


# Accounts by id or code as one primary-key lookup: `id = ANY(..) OR
# code = ANY(..)` made the generic plan scan the whole accounts table.
# Parameters: ids, codes.
_BY_REF = f"id = ANY(%(ids)s::bigint[] || ARRAY(SELECT id FROM {ACCOUNT} WHERE code = ANY(%(codes)s::text[])))"


def policies_cte() -> str:
    """`pol`: the latest active version of every policy that applies to the
    accounts in `acc`, with the ones it is attached to (`linked`)."""
    return f"""latest AS (SELECT DISTINCT ON (name) name, version, kind, params, applies_to_all, active
                   FROM {Policy._meta.db_table} ORDER BY name, version DESC),
        pol AS (SELECT l.name, l.version, l.kind, l.params, l.applies_to_all,
                       coalesce(array_agg(ap.account_id) FILTER (WHERE ap.account_id IS NOT NULL), '{{}}') AS linked
                FROM latest l LEFT JOIN {AccountPolicy._meta.db_table} ap
                     ON ap.policy_name = l.name AND ap.account_id IN (SELECT id FROM acc)
                WHERE l.active GROUP BY 1, 2, 3, 4, 5
                HAVING l.applies_to_all OR count(ap.account_id) > 0)"""


# What every read of accounts for posting returns beside them: the `pol`
# CTE (policies_cte) as JSON.
POLICIES_JSON = """(SELECT coalesce(json_agg(json_build_array(name, version, kind, params, applies_to_all, linked)
                                  ORDER BY name), '[]') FROM pol)"""


def closed_through_sql() -> str:
    """Closeout's watermark: the end of the latest closed or closing period
    (one probe of its partial index; closeout registers the SQL when it loads)."""
    return f"({closed_books().watermark_sql})"


@functools.cache
def key_claim_and_read() -> str:
    """The full path's first statement: the boundary's claim of the key,
    then the accounts, the policies that apply to them, a new entry id, the
    closed-period watermark and the PolicyEpoch, in one round trip.

    Lock order: the key, then the accounts. `acc` reads the claim's
    RETURNING row, so the INSERT (and its wait for an in-flight duplicate)
    runs before any account is read, and a key that is already taken locks
    nothing. Then only the accounts a decision rests on are locked here
    (`guarded`): those a no-negative-available policy guards and a line can
    take money from (a line on the side opposite the account's normal
    side), plus every account below them in pk order, so that the write,
    which locks the rest, still locks in pk order. The others are read, not
    locked: the entry's write locks them (LATE_LOCK_CTE), so a busy account
    is held for the write and the commit only. `lock_all` locks every
    account here instead, for a caller whose transaction cannot be retried.

    Parameters: key_claim's; ids, codes (every line's account); dr_ids,
    dr_codes, cr_ids, cr_codes (the debited and the credited ones); lock_all."""
    return f"""
        WITH claim AS ({key_claim()}),
        acc AS MATERIALIZED (
            SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT}
            WHERE {_BY_REF} AND EXISTS (SELECT FROM claim)),
        {policies_cte()},
        guarded AS (
            SELECT max(a.id) AS id FROM acc a JOIN pol p
                ON p.kind = '{PolicyKind.NO_NEGATIVE_AVAILABLE.value}' AND (p.applies_to_all OR a.id = ANY(p.linked))
            WHERE CASE a.normal_side
                  WHEN 'debit' THEN a.id = ANY(%(cr_ids)s::bigint[]) OR a.code = ANY(%(cr_codes)s::text[])
                  ELSE a.id = ANY(%(dr_ids)s::bigint[]) OR a.code = ANY(%(dr_codes)s::text[]) END),
        lk AS MATERIALIZED ({accounts_lock_sql(
            where="id = ANY(ARRAY(SELECT id FROM acc WHERE %(lock_all)s::boolean OR id <= (SELECT id FROM guarded)))",
            columns=ACCOUNT_COLUMNS)})
        SELECT (SELECT id FROM claim),
               (SELECT coalesce(json_agg(json_build_array({ACCOUNT_COLUMNS}, false)), '[]') FROM acc),
               (SELECT coalesce(json_agg(json_build_array({ACCOUNT_COLUMNS}, true)), '[]') FROM lk),
               {POLICIES_JSON},
               nextval('{ENTRY}_id_seq'),
               {closed_through_sql()},
               (SELECT epoch FROM {EPOCH})"""


@functools.cache
def accounts_lock_and_read() -> str:
    """key_claim_and_read without the claim, every account locked (pk
    order): for a posting whose caller claimed the key itself (a hold's
    capture, a reversal). Parameters: ids, codes."""
    return f"""
        WITH acc AS MATERIALIZED ({accounts_lock_sql(where=_BY_REF, columns=ACCOUNT_COLUMNS)}),
        {policies_cte()}
        SELECT (SELECT coalesce(json_agg(json_build_array({ACCOUNT_COLUMNS}) ORDER BY id), '[]') FROM acc),
               {POLICIES_JSON},
               nextval('{ENTRY}_id_seq'),
               {closed_through_sql()}"""


@functools.cache
def cache_warm_read() -> str:
    """The claim's read, locking nothing, for the tenant's newest
    %(limit)s accounts at once, in one snapshot: what ledger.posting_cache
    starts from."""
    return f"""
        WITH acc AS MATERIALIZED (
            SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNT}
            ORDER BY id DESC LIMIT %(limit)s),
        {policies_cte()}
        SELECT (SELECT coalesce(json_agg(json_build_array({ACCOUNT_COLUMNS}, false)), '[]') FROM acc),
               {POLICIES_JSON},
               {closed_through_sql()},
               (SELECT epoch FROM {EPOCH})"""


# The statements embed the watermark's SQL, which closeout registers when it loads.
on_closed_books_register(key_claim_and_read.cache_clear)
on_closed_books_register(accounts_lock_and_read.cache_clear)
on_closed_books_register(cache_warm_read.cache_clear)


# -- 2. The full path: the entry's write, one statement of CTE parts -------------------------------


@functools.cache
def entry_cte() -> str:
    """`e`: the entry row, from one JSON document (%(e)s, its id reserved
    by the read)."""
    return f"e AS (INSERT INTO {ENTRY} SELECT * FROM jsonb_populate_record(NULL::{ENTRY}, %(e)s::jsonb) RETURNING id)"


@functools.cache
def lines_cte(gate: str | None = None, returning: str | None = None) -> str:
    """`l`: the lines, from one JSON document (%(l)s), in the order given;
    each reads the entry's id from `e`, so the entry row goes in first (the
    line trigger looks it up, moves the balances and stamps balance_after;
    the deferred constraint trigger checks the entry at commit, whichever
    statement wrote it).

    `gate`: a one-row CTE the lines join, so it runs before them (the late
    lock's `chk`: the accounts are locked in pk order before the line
    trigger updates them in line order). `returning`: the stored lines'
    columns to return (balance_after as the line trigger stamped it)."""
    join = f", {gate}" if gate else ""
    ret = f" RETURNING {returning}" if returning else ""
    return f"""l AS (
            INSERT INTO {LINE} (entry_id, account_id, side, amount_minor, currency)
            SELECT (SELECT id FROM e), x.account_id, x.side, x.amount_minor, x.currency
            FROM ROWS FROM (jsonb_to_recordset(%(l)s::jsonb)
                            AS (account_id bigint, side text, amount_minor bigint, currency text))
                 WITH ORDINALITY AS x(account_id, side, amount_minor, currency, n){join}
            ORDER BY x.n{ret})"""


@functools.cache
def late_lock_cte() -> str:
    """The write's own lock, for accounts the claim only read (late lock:
    a busy account is held for the end of this statement and the commit,
    not for the Python in between). `lk` locks every account of the entry
    in pk order (rows the claim locked are already ours), after the entry
    and audit rows (`e`, `au`) are in: those need no lock. `chk` refuses to
    go on if anything the decisions rested on changed since the read --
    status, currency, normal side -- by raising a serialization failure,
    which retries the whole transaction (nothing half-written). Otherwise
    `bal` is '{}' when no balance moved since the read, else how far each
    moved ({account id: [posted, pending]}), for LATE_PAYLOAD to add to the
    response's balances (zentra_payload_rebase); the line trigger stamps
    the same balances from the locked rows.

    The read values come as arrays (%(lk_ids)s, %(lk_fp)s, %(lk_posted)s,
    %(lk_pending)s), looked up by the account's position in lk_ids: plain
    aggregates, no join or sort to plan or run."""
    pos = "array_position(%(lk_ids)s::bigint[], k.id)"
    lock = accounts_lock_sql(
        where="id = ANY(%(lk_ids)s::bigint[]) AND EXISTS (SELECT FROM e) AND EXISTS (SELECT FROM au)",
        columns="id, status, currency, normal_side, posted_balance, pending_balance")
    return f"""lk AS MATERIALIZED ({lock}),
        mv AS (  -- only when a balance moved: a scalar subquery runs when its value is first needed
            SELECT jsonb_object_agg(k.id, jsonb_build_array(
                       k.posted_balance - (%(lk_posted)s::bigint[])[{pos}],
                       k.pending_balance - (%(lk_pending)s::bigint[])[{pos}])) AS moved
            FROM lk k),
        chk AS MATERIALIZED (
            SELECT CASE
                   WHEN count(*) <> cardinality(%(lk_ids)s::bigint[])
                        OR NOT bool_and(k.status || ' ' || k.currency || ' ' || k.normal_side
                                        = (%(lk_fp)s::text[])[{pos}])
                   THEN public.zentra_posting_stale()
                   WHEN bool_and(k.posted_balance = (%(lk_posted)s::bigint[])[{pos}]
                                 AND k.pending_balance = (%(lk_pending)s::bigint[])[{pos}])
                   THEN '{{}}'::jsonb
                   ELSE (SELECT moved FROM mv) END AS bal
            FROM lk k)"""


# The event's payload under a late lock: the body Python built, rebased by
# what moved since the read (late_lock_cte's `bal`).
LATE_PAYLOAD = """(SELECT CASE WHEN bal = '{}'::jsonb THEN %(payload)s::jsonb
                     ELSE public.zentra_payload_rebase(%(payload)s::jsonb, bal) END FROM chk)"""


@functools.cache
def record_finish_cte() -> str:
    """`rec`: the boundary record's outcome, written with the entry (see
    Posted.record_done): the event's payload (as `ev` stored it, not parsed
    again) plus %(rec_extra)s (the event's name and id), for key %(rec_key)s."""
    return f"""rec AS (
            UPDATE {RECORD} SET response_status = 201,
                   response_body = (SELECT payload FROM ev) || %(rec_extra)s::jsonb, entry_id = %(e_id)s,
                   -- statement_timestamp(), not clock_timestamp(): Citus refuses a
                   -- volatile function in an UPDATE of a distributed table.
                   outcome = 'posted', completed_at = statement_timestamp()
            WHERE key = %(rec_key)s)"""


# What a write returns: how many webhook deliveries it made, and (under a
# late lock) the rebased payload when balances moved since the read, else NULL.
WRITE_RETURNS = "SELECT (SELECT count(*) FROM dl), NULL"
WRITE_RETURNS_LATE = """SELECT (SELECT count(*) FROM dl),
               (SELECT CASE WHEN bal = '{}'::jsonb THEN NULL ELSE (SELECT payload::text FROM ev) END FROM chk)"""
WRITE_RETURNS_NOTHING = "SELECT 0, NULL"


@functools.cache
def write(parts: tuple[str, ...], returns: str) -> str:
    """The entry's write: the CTE parts, in order, as one statement."""
    return "WITH " + ",\n        ".join(parts) + "\n        " + returns
