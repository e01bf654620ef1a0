"""Period-end snapshots: the trial balance of a closing period, stored row
by row and sealed into the tenant's hash chain (record type
`period_snapshot`, closeout/records.py)."""
from __future__ import annotations

from django.db import connection

from core.actors import Actor
from closeout.models import AccountingPeriod, PeriodBalance, PeriodSnapshot

BALANCE_COLUMNS = ("snapshot_id", "account_id", "account_code", "currency", "normal_side", "opening_minor",
                   "debits_minor", "credits_minor", "closing_minor", "lines_count")


def snapshot_take(*, period: AccountingPeriod, actor: Actor) -> PeriodSnapshot:
    """Inside the closing transaction. The period is `closing`, so the entry
    trigger already refuses anything dated inside it: the numbers read here
    cannot change under us, and postings to later dates go on meanwhile."""
    from closeout.selectors import tb_totals, trial_balance_compute

    basis, rows = trial_balance_compute(start_at=period.start_at, end_at=period.end_at)
    snap = PeriodSnapshot.objects.create(
        period=period, period_name=period.name, start_at=period.start_at, end_at=period.end_at, created_by=actor.ref,
        account_count=len(rows), totals=tb_totals(rows), basis=basis,
    )
    table = f"{connection.ops.quote_name(connection.schema_name)}.{PeriodBalance._meta.db_table}"
    with connection.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(BALANCE_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((snap.id, *row))
    return snap
