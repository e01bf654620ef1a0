"""ledger_check's closeout checks (appended to ledger.checks.EXTRA_CHECKS):
the sealed period-end snapshots still agree with the ledger lines. Only the
snapshots in force (closed periods) are checked; a reopened period's old
snapshot stays in the chain as history and may legitimately differ."""
from ledger.checks import EXTRA_CHECKS

_CURRENT = """p AS (SELECT name, snapshot_id, start_at, end_at FROM closeout_accountingperiod
                 WHERE status = 'closed' AND snapshot_id IS NOT NULL)"""

CHECKS: list[tuple[str, str, str]] = [
    ("snapshot_movement_matches_lines",
     "period {0}, account id {1}: snapshot debits/credits/lines {2}/{3}/{4}, lines dated in the period {5}/{6}/{7}", f"""
        WITH {_CURRENT},
        mv AS (SELECT p.snapshot_id, l.account_id,
                      sum(l.amount_minor) FILTER (WHERE l.side = 'debit') AS d,
                      sum(l.amount_minor) FILTER (WHERE l.side = 'credit') AS c, count(*) AS n
               FROM p JOIN ledger_ledgerentry e ON e.effective_at >= p.start_at AND e.effective_at < p.end_at
               JOIN ledger_ledgerline l ON l.entry_id = e.id GROUP BY 1, 2),
        b AS (SELECT b.* FROM closeout_periodbalance b JOIN p ON p.snapshot_id = b.snapshot_id)
        SELECT (SELECT name FROM p WHERE p.snapshot_id = coalesce(b.snapshot_id, mv.snapshot_id)),
               coalesce(b.account_id, mv.account_id), b.debits_minor, b.credits_minor, b.lines_count,
               coalesce(mv.d, 0), coalesce(mv.c, 0), coalesce(mv.n, 0)
        FROM b FULL JOIN mv ON mv.snapshot_id = b.snapshot_id AND mv.account_id = b.account_id
        WHERE b.id IS NULL OR b.debits_minor <> coalesce(mv.d, 0) OR b.credits_minor <> coalesce(mv.c, 0)
           OR b.lines_count <> coalesce(mv.n, 0)"""),
    ("snapshot_closing_is_opening_plus_movement",
     "period {0}, account {1}: opening {2} + movement of debits {3} / credits {4} is not closing {5}", f"""
        WITH {_CURRENT}
        SELECT p.name, b.account_code, b.opening_minor, b.debits_minor, b.credits_minor, b.closing_minor
        FROM p JOIN closeout_periodbalance b ON b.snapshot_id = p.snapshot_id
        WHERE b.closing_minor <> b.opening_minor
              + (CASE b.normal_side WHEN 'debit' THEN 1 ELSE -1 END) * (b.debits_minor - b.credits_minor)"""),
    ("snapshot_opening_continues_previous",
     "period {0}, account id {1}: opening {2}, but the previous period's closing is {3}", f"""
        WITH {_CURRENT},
        pairs AS (SELECT cur.name, cur.snapshot_id AS cur_snap, prev.snapshot_id AS prev_snap
                  FROM p cur JOIN p prev ON prev.end_at = cur.start_at)
        SELECT pairs.name, coalesce(c.account_id, pr.account_id), coalesce(c.opening_minor, 0),
               coalesce(pr.closing_minor, 0)
        FROM pairs
        LEFT JOIN closeout_periodbalance c ON c.snapshot_id = pairs.cur_snap
        FULL JOIN closeout_periodbalance pr ON pr.snapshot_id = pairs.prev_snap AND pr.account_id = c.account_id
        WHERE (pairs.name IS NOT NULL) AND coalesce(c.opening_minor, 0) <> coalesce(pr.closing_minor, 0)"""),
    ("snapshot_first_opening_matches_lines",
     "period {0}, account id {1}: opening {2}, lines dated before it sum to {3}", f"""
        WITH {_CURRENT},
        first AS (SELECT * FROM p ORDER BY start_at LIMIT 1),
        before AS (SELECT l.account_id,
                          sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END) AS bal
                   FROM first JOIN ledger_ledgerentry e ON e.effective_at < first.start_at
                   JOIN ledger_ledgerline l ON l.entry_id = e.id JOIN ledger_account a ON a.id = l.account_id
                   GROUP BY 1),
        b AS (SELECT b.* FROM closeout_periodbalance b JOIN first ON first.snapshot_id = b.snapshot_id)
        SELECT (SELECT name FROM first), coalesce(b.account_id, before.account_id), b.opening_minor,
               coalesce(before.bal, 0)
        FROM b FULL JOIN before ON before.account_id = b.account_id
        WHERE coalesce(b.opening_minor, 0) <> coalesce(before.bal, 0)"""),
]


def register() -> None:
    known = {name for name, _, _ in EXTRA_CHECKS}
    EXTRA_CHECKS.extend(c for c in CHECKS if c[0] not in known)
