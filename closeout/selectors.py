"""Closeout reads: the trial balance of a period (set-based SQL) and "why
did this balance change" between two instants (stored running balances).

Trial balance, period P = [start, end), by effective_at (the business date):
  debits, credits  = what lines of entries dated in P moved;
  opening, closing = the account's balance (normal-side terms) just before
                     start / end.
Opening and closing are not summed from the beginning of time. Either the
previous period's sealed snapshot gives the opening (and closing = opening
+ P's movement: only P's lines are read), or the stored current balance
(Account.posted_balance, i.e. the latest line's balance_after) minus what
was dated at or after start / end (only lines from start on are read). One
statement, so one consistent snapshot of balances and lines.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from closeout import errors
from closeout.models import (
    AccountingPeriod, CloseoutSettings, PeriodBalance, PeriodLength, PeriodReopenRequest, PeriodSnapshot, PeriodStatus,
)
from ledger.models import Account, LedgerLine
from ledger.presenters import iso
from ledger.selectors import balance_as_of

TB_WORK_MEM = "32MB"
# Columns of a trial-balance row, in order.
TB_FIELDS = ("account_id", "account_code", "currency", "normal_side", "opening_minor", "debits_minor",
             "credits_minor", "closing_minor", "lines_count")

_MOVEMENT = """
    SELECT l.account_id,
           sum(l.amount_minor) FILTER (WHERE l.side = 'debit' AND e.effective_at < %(end)s) AS debits,
           sum(l.amount_minor) FILTER (WHERE l.side = 'credit' AND e.effective_at < %(end)s) AS credits,
           count(*) FILTER (WHERE e.effective_at < %(end)s) AS n,
           sum(CASE WHEN l.side = 'debit' THEN l.amount_minor ELSE -l.amount_minor END) AS net_from_start,
           sum(CASE WHEN l.side = 'debit' THEN l.amount_minor ELSE -l.amount_minor END)
               FILTER (WHERE e.effective_at >= %(end)s) AS net_from_end
    FROM ledger_ledgerentry e JOIN ledger_ledgerline l ON l.entry_id = e.id
    WHERE e.effective_at >= %(start)s {upper}
    GROUP BY l.account_id
"""

# Opening/closing from the stored current balance, less what was dated later.
TB_FROM_CURRENT = f"""
    WITH mv AS ({_MOVEMENT.format(upper="")})
    SELECT a.id, a.code, a.currency, a.normal_side,
           (a.posted_balance - (CASE a.normal_side WHEN 'debit' THEN 1 ELSE -1 END)
                               * coalesce(mv.net_from_start, 0))::bigint,
           coalesce(mv.debits, 0)::bigint, coalesce(mv.credits, 0)::bigint,
           (a.posted_balance - (CASE a.normal_side WHEN 'debit' THEN 1 ELSE -1 END)
                               * coalesce(mv.net_from_end, 0))::bigint,
           coalesce(mv.n, 0)::bigint
    FROM ledger_account a LEFT JOIN mv ON mv.account_id = a.id
    WHERE a.created_at < %(end)s OR coalesce(mv.n, 0) > 0
"""

# Opening from the previous period's sealed snapshot; only P's lines are read.
TB_FROM_SNAPSHOT = f"""
    WITH mv AS ({_MOVEMENT.format(upper="AND e.effective_at < %(end)s")})
    SELECT a.id, a.code, a.currency, a.normal_side,
           coalesce(pb.closing_minor, 0)::bigint,
           coalesce(mv.debits, 0)::bigint, coalesce(mv.credits, 0)::bigint,
           (coalesce(pb.closing_minor, 0) + (CASE a.normal_side WHEN 'debit' THEN 1 ELSE -1 END)
                                           * coalesce(mv.net_from_start, 0))::bigint,
           coalesce(mv.n, 0)::bigint
    FROM ledger_account a
    LEFT JOIN closeout_periodbalance pb ON pb.snapshot_id = %(prev)s AND pb.account_id = a.id
    LEFT JOIN mv ON mv.account_id = a.id
    WHERE a.created_at < %(end)s OR coalesce(mv.n, 0) > 0 OR pb.id IS NOT NULL
"""


@dataclass
class TrialBalance:
    name: str
    start_at: dt.datetime
    end_at: dt.datetime
    status: str  # the period's status ("open" when not stored yet)
    source: str  # "snapshot" (a closed period's sealed rows) or "computed"
    basis: str  # "previous_snapshot" | "current_balance" | "snapshot"
    rows: list[tuple]
    snapshot_id: int | None = None
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ties_out(self) -> bool:
        return all(t["ties_out"] for t in self.totals.values())


def tb_totals(rows: list[tuple]) -> dict[str, dict[str, Any]]:
    """Per currency: Σ debits = Σ credits, and the accounts' opening and
    closing balances net to zero on the debit side (every entry balances per
    currency, so the whole ledger does at any date)."""
    t: dict[str, dict[str, int]] = defaultdict(lambda: {"debits_minor": 0, "credits_minor": 0,
                                                        "opening_net_debit_minor": 0, "closing_net_debit_minor": 0,
                                                        "accounts": 0})
    for _id, _code, currency, side, opening, debits, credits, closing, _n in rows:
        sign = 1 if side == "debit" else -1
        c = t[currency]
        c["debits_minor"] += debits
        c["credits_minor"] += credits
        c["opening_net_debit_minor"] += sign * opening
        c["closing_net_debit_minor"] += sign * closing
        c["accounts"] += 1
    out = {}
    for currency, c in sorted(t.items()):
        out[currency] = dict(c) | {"ties_out": c["debits_minor"] == c["credits_minor"]
                                   and c["opening_net_debit_minor"] == 0 and c["closing_net_debit_minor"] == 0}
    return out


def _previous_snapshot(start_at: dt.datetime) -> int | None:
    prev = (AccountingPeriod.objects.filter(end_at=start_at, status=PeriodStatus.CLOSED, snapshot__isnull=False)
            .values_list("snapshot_id", flat=True).first())
    return prev


def trial_balance_compute(*, start_at: dt.datetime, end_at: dt.datetime) -> tuple[str, list[tuple]]:
    """(basis, rows ordered by account code): one statement over the lines
    dated from start_at on (or only inside the period, given the previous
    period's snapshot)."""
    prev = _previous_snapshot(start_at)
    sql, basis = (TB_FROM_SNAPSHOT, "previous_snapshot") if prev else (TB_FROM_CURRENT, "current_balance")
    with transaction.atomic(), connection.cursor() as cur:
        # The entries-lines hash join of a busy year is ~30 MB: at the default
        # 4 MB work_mem it spills ~60 MB to temp files (bench/trial_balance.py).
        cur.execute(f"SET LOCAL work_mem = '{TB_WORK_MEM}'")
        cur.execute(sql + " ORDER BY a.code", {"start": start_at, "end": end_at, "prev": prev})
        return basis, cur.fetchall()


def period_lookup(ref: str) -> tuple[AccountingPeriod | None, str, dt.datetime, dt.datetime]:
    """A stored period, or a default-named one that is not stored yet."""
    period = period_get(ref)
    if period is not None:
        return period, period.name, period.start_at, period.end_at
    bounds = period_bounds(str(ref))
    if bounds is None:
        raise errors.PeriodNotFound(f"No period '{ref}' (name one like 2026-01, 2026-Q1 or 2026, or a per_ id).")
    clash = AccountingPeriod.objects.filter(start_at__lt=bounds[1], end_at__gt=bounds[0]).first()
    if clash is not None:
        raise errors.PeriodNotFound(f"No period '{ref}': its dates overlap the stored period {clash.name}.")
    return None, str(ref), bounds[0], bounds[1]


def trial_balance(ref: str) -> TrialBalance:
    period, name, start_at, end_at = period_lookup(ref)
    if period is not None and period.status == PeriodStatus.CLOSED and period.snapshot_id:
        snap = period.snapshot
        rows = list(PeriodBalance.objects.filter(snapshot=snap).order_by("account_code").values_list(*TB_FIELDS))
        return TrialBalance(name=name, start_at=start_at, end_at=end_at, status=period.status, source="snapshot",
                            basis=snap.basis, rows=rows, snapshot_id=snap.id, totals=snap.totals)
    basis, rows = trial_balance_compute(start_at=start_at, end_at=end_at)
    return TrialBalance(name=name, start_at=start_at, end_at=end_at, status=period.status if period else "open",
                        source="computed", basis=basis, rows=rows, totals=tb_totals(rows))


def tb_row_body(row: tuple) -> dict[str, Any]:
    return dict(zip(TB_FIELDS, row))


def period_list() -> QuerySet[AccountingPeriod]:
    return AccountingPeriod.objects.all()


def reopen_list(*, status: str | None = None) -> QuerySet[PeriodReopenRequest]:
    qs = PeriodReopenRequest.objects.select_related("period")
    return qs.filter(status=status) if status else qs


def period_snapshot_for_export(ref: str) -> PeriodSnapshot:
    period = period_get(ref)
    if period is None or period.status != PeriodStatus.CLOSED or not period.snapshot_id:
        raise errors.PeriodInvalidTransition(
            f"Period '{ref}' is not closed: only a closed period's sealed snapshot is exported.", field="filters.period")
    return period.snapshot


# --- why did this balance change ---------------------------------------------------
_CHANGE = """
    WITH mv AS (
        SELECT coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END), 0) AS from_start,
               coalesce(sum(CASE WHEN l.side = a.normal_side THEN l.amount_minor ELSE -l.amount_minor END)
                        FILTER (WHERE e.effective_at >= %(end)s), 0) AS from_end,
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'debit' AND e.effective_at < %(end)s), 0) AS debits,
               coalesce(sum(l.amount_minor) FILTER (WHERE l.side = 'credit' AND e.effective_at < %(end)s), 0) AS credits,
               count(*) FILTER (WHERE e.effective_at < %(end)s) AS n
        FROM ledger_ledgerline l
        JOIN ledger_ledgerentry e ON e.id = l.entry_id
        JOIN ledger_account a ON a.id = l.account_id
        WHERE l.account_id = %(account)s AND e.effective_at >= %(start)s
    )
    SELECT a.posted_balance, mv.from_start::bigint, mv.from_end::bigint, mv.debits::bigint, mv.credits::bigint,
           mv.n::bigint
    FROM ledger_account a, mv WHERE a.id = %(account)s
"""


def balance_change(*, account: Account, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Why the account's balance changed over [start, end), by **effective
    date**, the rule every period figure follows: the trial balance's
    opening, debits, credits and closing for the same account and period are
    exactly these. Opening / closing are the stored current balance less
    what is dated at or after start / end, in one statement (one snapshot),
    as the trial balance computes them. Posting time is evidence on each
    line (`posted_at`, and the stored balance after it as posted).

    pending / available come from the hold movements as of each instant:
    holds have no effective date."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(_CHANGE, {"account": account.id, "start": start, "end": end})
        row = cur.fetchone()
    posted_now, from_start, from_end, debits, credits, count = row if row else (account.posted_balance, 0, 0, 0, 0, 0)

    def at(when: dt.datetime, posted: int) -> dict[str, Any]:
        held = balance_as_of(account=account, at=when)
        return {"posted": posted, "pending": held["pending"], "available": posted - held["pending"],
                "last_line_id": None, "as_posted": held["posted"]}

    lines = (LedgerLine.objects.filter(account=account, entry__effective_at__gte=start, entry__effective_at__lt=end)
             .select_related("entry"))
    return {"opening": at(start, posted_now - from_start), "closing": at(end, posted_now - from_end),
            "debits_minor": debits, "credits_minor": credits, "lines_count": count, "lines": lines}


def balance_change_line(ln: LedgerLine, account: Account) -> dict[str, Any]:
    e = ln.entry
    signed = ln.amount_minor if ln.side == account.normal_side else -ln.amount_minor
    return {
        "line_id": ln.id, "entry_id": e.id, "posting_id": e.posting_id, "kind": e.kind,
        "posted_at": iso(ln.posted_at), "effective_at": iso(e.effective_at), "side": ln.side,
        "amount_minor": ln.amount_minor, "signed_amount_minor": signed,
        "balance_before": ln.balance_after - signed, "balance_after": ln.balance_after,
        "actor": e.actor_ref, "actor_kind": e.actor_kind, "source_event": e.source_event,
        "external_reference": e.external_reference, "description": e.description,
        "idempotency_key": e.idempotency_key, "correlation_id": e.correlation_id,
        "policy_decisions": e.policy_decisions, "reversal_of": e.reversal_of_id,
        "closeout": (e.metadata or {}).get("closeout"),
        "evidence": {"api": f"/v1/ledger-entries/{e.posting_id}", "console": f"/console/entries/{e.posting_id}/"},
    }


# --- periods: names, bounds, the watermark ---------------------------------------
UTC = dt.timezone.utc


NAME_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


NAME_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


NAME_YEAR = re.compile(r"^(\d{4})$")


def settings_get() -> CloseoutSettings:
    return CloseoutSettings.objects.filter(id=1).first() or CloseoutSettings(id=1)


def _utc(y: int, m: int) -> dt.datetime:
    return dt.datetime(y, m, 1, tzinfo=UTC)


def period_bounds(name: str) -> tuple[dt.datetime, dt.datetime] | None:
    """'2026-01' (month), '2026-Q1' (quarter), '2026' (year) -> [start, end) in UTC."""
    if m := NAME_MONTH.match(name):
        y, mo = int(m[1]), int(m[2])
        if not (1 <= mo <= 12 and 1 <= y <= 9998):
            return None
        return _utc(y, mo), (_utc(y + 1, 1) if mo == 12 else _utc(y, mo + 1))
    if m := NAME_QUARTER.match(name):
        y, q = int(m[1]), int(m[2])
        if not 1 <= y <= 9998:
            return None
        start = _utc(y, 3 * q - 2)
        return start, (_utc(y + 1, 1) if q == 4 else _utc(y, 3 * q + 1))
    if m := NAME_YEAR.match(name):
        y = int(m[1])
        return (_utc(y, 1), _utc(y + 1, 1)) if 1 <= y <= 9998 else None
    return None


def period_name_for(at: dt.datetime, length: str) -> str:
    at = at.astimezone(UTC)
    if length == PeriodLength.QUARTER:
        return f"{at.year:04d}-Q{(at.month - 1) // 3 + 1}"
    if length == PeriodLength.YEAR:
        return f"{at.year:04d}"
    return f"{at.year:04d}-{at.month:02d}"


# The watermark as SQL, for the ledger's posting statements (ledger.closing):
# one probe of the periods' partial index.
CLOSED_THROUGH_SQL = f"SELECT max(end_at) FROM {AccountingPeriod._meta.db_table} WHERE status <> 'open'"


def closed_through() -> dt.datetime | None:
    """The watermark: end of the latest non-open period (one index probe)."""
    return (AccountingPeriod.objects.exclude(status=PeriodStatus.OPEN).order_by("-end_at")
            .values_list("end_at", flat=True).first())


def period_covering(at: dt.datetime) -> AccountingPeriod | None:
    return AccountingPeriod.objects.filter(start_at__lte=at, end_at__gt=at).first()


def period_get(ref: str) -> AccountingPeriod | None:
    ref = str(ref)
    qs = AccountingPeriod.objects.all()
    return qs.filter(public_id=ref).first() if ref.startswith("per_") else qs.filter(name=ref).first()
