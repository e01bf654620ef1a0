"""`ledger_check`: recompute every ledger invariant from the rows themselves.

The triggers prevent violations; this proves, after the fact and for any
tenant, that none slipped through (a disabled trigger, a restore gone wrong,
a bug). It only reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class Violation:
    check: str
    detail: str


# Each check is one query returning offending rows; the first column names the record.
CHECKS: list[tuple[str, str, str]] = [
    ("entry_has_two_lines", "entry {0} has {1} lines (declared {2})", """
        SELECT e.id, count(l.id), e.line_count FROM ledger_ledgerentry e
        LEFT JOIN ledger_ledgerline l ON l.entry_id = e.id
        GROUP BY e.id HAVING count(l.id) < 2 OR count(l.id) <> e.line_count"""),
    ("entry_balanced_per_currency", "entry {0} in {1}: debits - credits = {2}", """
        SELECT entry_id, currency, sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
        FROM ledger_ledgerline GROUP BY entry_id, currency
        HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0"""),
    ("ledger_balanced_per_currency", "whole ledger in {0}: debits - credits = {1}", """
        SELECT currency, sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END)
        FROM ledger_ledgerline GROUP BY currency
        HAVING sum(CASE WHEN side = 'debit' THEN amount_minor ELSE -amount_minor END) <> 0"""),
    ("amount_positive", "line {0} has amount {1}", "SELECT id, amount_minor FROM ledger_ledgerline WHERE amount_minor <= 0"),
    ("line_currency_matches_account", "line {0} is {1}, account {2} is {3}", """
        SELECT l.id, l.currency, a.code, a.currency FROM ledger_ledgerline l
        JOIN ledger_account a ON a.id = l.account_id WHERE l.currency <> a.currency"""),
    ("stored_balance_equals_lines", "account {0}: stored posted {1}, debits {2}, credits {3}, lines {4}; "
     "from lines posted {5}, debits {6}, credits {7}, lines {8}", """
        SELECT a.code, a.posted_balance, a.debits_total, a.credits_total, a.lines_count,
               coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END), 0),
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'debit'), 0),
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'credit'), 0),
               count(l.id)
        FROM ledger_account a LEFT JOIN ledger_ledgerline l ON l.account_id = a.id
        GROUP BY a.id
        HAVING a.posted_balance <> coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END), 0)
            OR a.debits_total <> coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'debit'), 0)
            OR a.credits_total <> coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'credit'), 0)
            OR a.lines_count <> count(l.id)"""),
    ("running_balance_chain", "line {0} of account {1}: balance_after {2}, expected {3}", """
        SELECT id, code, balance_after, expected FROM (
            SELECT l.id, a.code, l.balance_after,
                   sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END)
                       OVER (PARTITION BY l.account_id ORDER BY l.id) AS expected
            FROM ledger_ledgerline l JOIN ledger_account a ON a.id = l.account_id) s
        WHERE balance_after IS DISTINCT FROM expected"""),
    ("one_posting_per_key", "idempotency key {0} has {1} entries", """
        SELECT idempotency_key, count(*) FROM ledger_ledgerentry GROUP BY idempotency_key HAVING count(*) > 1"""),
    ("entry_has_boundary_record", "entry {0} (key {1}) has no idempotency record pointing at it", """
        SELECT e.id, e.idempotency_key FROM ledger_ledgerentry e
        LEFT JOIN ledger_idempotencyrecord r ON r.key = e.idempotency_key AND r.entry_id = e.id
        WHERE r.id IS NULL"""),
    ("boundary_record_complete", "idempotency key {0}: outcome {1!r} but entry {2}", """
        SELECT key, outcome, entry_id FROM ledger_idempotencyrecord
        WHERE completed_at IS NOT NULL AND ((outcome = 'posted') <> (entry_id IS NOT NULL))"""),
    ("no_negative_where_forbidden", "account {0}: available {1} below -{2} (policy {3} v{4})", """
        WITH p AS (SELECT DISTINCT ON (name) * FROM ledger_policy ORDER BY name, version DESC)
        SELECT a.code, a.available_balance, coalesce((p.params->>'overdraft_limit_minor')::bigint, 0), p.name, p.version
        FROM ledger_account a JOIN p ON p.kind = 'no_negative_available' AND p.active
        WHERE (p.applies_to_all OR EXISTS (SELECT 1 FROM ledger_accountpolicy ap
                                           WHERE ap.account_id = a.id AND ap.policy_name = p.name))
          AND a.available_balance < -coalesce((p.params->>'overdraft_limit_minor')::bigint, 0)"""),
    # --- holds and reversals (0003_lifecycle) ---
    ("pending_equals_open_holds", "account {0}: stored pending {1}, open holds reserve {2}", """
        SELECT a.code, a.pending_balance, coalesce(sum(h.amount_minor - h.captured_minor - h.released_minor), 0)
        FROM ledger_account a LEFT JOIN ledger_hold h ON h.account_id = a.id
        GROUP BY a.id
        HAVING a.pending_balance <> coalesce(sum(h.amount_minor - h.captured_minor - h.released_minor), 0)"""),
    ("hold_status_matches_amounts", "hold {0} is {1} with {2} of {3} captured and {4} released", """
        SELECT hold_id, status, captured_minor, amount_minor, released_minor FROM ledger_hold
        WHERE (status IN ('active', 'partially_captured')) <> (captured_minor + released_minor < amount_minor)"""),
    ("hold_movements_sum", "hold {0}: movements say captured {1}, released {2}; the row says {3}, {4}", """
        SELECT h.hold_id, coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'captured'), 0),
               coalesce(sum(m.amount_minor) FILTER (WHERE m.kind IN ('released', 'expired')), 0),
               h.captured_minor, h.released_minor
        FROM ledger_hold h LEFT JOIN ledger_holdmovement m ON m.hold_id = h.id
        GROUP BY h.id
        HAVING coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'captured'), 0) <> h.captured_minor
            OR coalesce(sum(m.amount_minor) FILTER (WHERE m.kind IN ('released', 'expired')), 0) <> h.released_minor
            OR coalesce(sum(m.amount_minor) FILTER (WHERE m.kind = 'created'), 0) <> h.amount_minor"""),
    ("pending_running_chain", "hold movement {0} of account {1}: pending_after {2}, expected {3}", """
        SELECT id, code, pending_after, expected FROM (
            SELECT m.id, a.code, m.pending_after,
                   sum(m.pending_delta) OVER (PARTITION BY m.account_id ORDER BY m.id) AS expected
            FROM ledger_holdmovement m JOIN ledger_account a ON a.id = m.account_id) s
        WHERE pending_after <> expected"""),
    ("capture_backed_by_entry", "hold movement {0} captured {1} but entry {2} ({3}) moved {4} out of the account", """
        SELECT m.id, m.amount_minor, m.entry_id, e.kind,
               coalesce(sum(CASE WHEN l.side = a.normal_side THEN -l.amount_minor ELSE l.amount_minor END), 0)
        FROM ledger_holdmovement m JOIN ledger_account a ON a.id = m.account_id
        LEFT JOIN ledger_ledgerentry e ON e.id = m.entry_id
        LEFT JOIN ledger_ledgerline l ON l.entry_id = m.entry_id AND l.account_id = m.account_id
        WHERE m.kind = 'captured'
        GROUP BY m.id, m.amount_minor, m.entry_id, e.kind
        HAVING e.kind IS DISTINCT FROM 'hold_capture'
            OR coalesce(sum(CASE WHEN l.side = a.normal_side THEN -l.amount_minor ELSE l.amount_minor END), 0)
               <> m.amount_minor"""),
    ("reversal_linked", "entry {0} is kind {1} with reversal_of {2}", """
        SELECT id, kind, reversal_of_id FROM ledger_ledgerentry
        WHERE (kind = 'reversal') <> (reversal_of_id IS NOT NULL)"""),
    ("reversals_within_original", "entry {0}: reversals undo {1} on the {2} side of account {3}; it moved {4}", """
        WITH rev AS (
            SELECT e.reversal_of_id AS orig, l.account_id, l.currency,
                   CASE WHEN l.side = 'debit' THEN 'credit' ELSE 'debit' END AS side, sum(l.amount_minor) AS amt
            FROM ledger_ledgerentry e JOIN ledger_ledgerline l ON l.entry_id = e.id
            WHERE e.reversal_of_id IS NOT NULL GROUP BY 1, 2, 3, 4),
        orig AS (
            SELECT l.entry_id AS orig, l.account_id, l.currency, l.side, sum(l.amount_minor) AS amt
            FROM ledger_ledgerline l WHERE l.entry_id IN (SELECT orig FROM rev) GROUP BY 1, 2, 3, 4)
        SELECT rev.orig, rev.amt, rev.side, a.code, coalesce(orig.amt, 0)
        FROM rev LEFT JOIN orig USING (orig, account_id, currency, side) JOIN ledger_account a ON a.id = rev.account_id
        WHERE rev.amt > coalesce(orig.amt, 0)"""),
]

# Apps that add money state (holds, ...) append their own checks here.
EXTRA_CHECKS: list[tuple[str, str, str]] = []


def ledger_check(*, limit_per_check: int = 20) -> list[Violation]:
    """Run every check in the current tenant schema."""
    found: list[Violation] = []
    with connection.cursor() as cur:
        for name, template, sql in CHECKS + EXTRA_CHECKS:
            cur.execute(f"{sql} LIMIT {limit_per_check}")
            for row in cur.fetchall():
                found.append(Violation(name, template.format(*row)))
    return found


def check_names() -> list[str]:
    return [name for name, _, _ in CHECKS + EXTRA_CHECKS]
