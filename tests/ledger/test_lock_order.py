"""Account row locks are taken in one place (ledger/locks.py), in primary-key
order, so postings, holds, captures and batches over the same accounts queue
instead of deadlocking. A lock written anywhere else would not be held to
that order; this test finds one by reading the code."""
import re
from pathlib import Path

from ledger.locks import accounts_lock_sql

ROOT = Path(__file__).resolve().parents[2]
APPS = ("ledger", "audit", "webhooks", "closeout", "reconciliation", "providers", "tenants", "console", "zentra_site")


def test_accounts_lock_sql_locks_in_primary_key_order():
    sql = accounts_lock_sql(where="id = ANY(%(ids)s)", columns="id")
    assert sql.endswith("ORDER BY id FOR UPDATE") and "ledger_account" in sql


def test_no_account_lock_outside_the_lock_helpers():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "ledger" / "locks.py":
                continue
            text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
            # Row locks in SQL text: only a queue's SKIP LOCKED claim may live elsewhere.
            if re.search(r"FOR[ \t]+(NO[ \t]+KEY[ \t]+)?UPDATE(?![ \t]+SKIP[ \t]+LOCKED)", text):
                offenders.append(f"{path.relative_to(ROOT)}: FOR UPDATE")
            if re.search(r"Account\.objects\.select_for_update", text):
                offenders.append(f"{path.relative_to(ROOT)}: Account.objects.select_for_update")
    assert offenders == []
