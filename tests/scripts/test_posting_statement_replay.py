"""bench/postings.py's statement figure: pgbench replaying the service's own
posting statement. The figure is only worth quoting if each replayed
transaction is a whole, valid posting -- its own entry, lines, balances,
record, event and audit row, under fresh unique values -- so this runs real
pgbench on a captured statement and checks what it wrote."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from django.db import connection

from audit.models import AuditEvent
from ledger import posting_cache
from ledger.checks import ledger_check
from ledger.models import Account, IdempotencyRecord, LedgerEntry, LedgerLine
from tests.conftest import ROOT
from tests.ledger import factories as f
from events.models import Event

sys.path.insert(0, str(ROOT / "bench"))
import postings  # noqa: E402  (bench/ is not a package)

pytestmark = pytest.mark.skipif(not shutil.which("pgbench"), reason="needs pgbench")


def test_pgbench_replays_of_the_posting_statement_are_complete_postings(tenant_a, tmp_path):
    posting_cache._CACHE.clear()
    connection.set_tenant(tenant_a.tenant)
    src, dst = f.account(code="src", normal_side="debit", kind="asset"), f.account(code="dst")
    f.post(debit=src, credit=dst, amount=1, key="warm")  # the first posting fills the posting cache
    answers = []
    sent = postings.direct_statements(
        lambda: answers.append(f.post(debit=src, credit=dst, amount=7, key="captured")), 1)
    assert len(sent) == 1, "the posting did not take the one-statement path"
    (out,), ((sql, params),) = answers, sent

    script = postings.statement_script(sql, params)
    # pgbench reads `:name` anywhere as its variable: only the three it sets may remain.
    assert set(re.findall(r"(?<!:):(?!:)(\w+)", script)) == {"k", "p", "v"}
    path = tmp_path / "posting.sql"
    path.write_text(script)
    db = connection.settings_dict
    env = dict(os.environ, PGOPTIONS=f"-c search_path={connection.schema_name},public "
                                     "-c plan_cache_mode=force_generic_plan")
    result = subprocess.run(
        ["pgbench", "-n", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"],
         "-M", "prepared", "-c", "2", "-t", "5", "-f", str(path), db["NAME"]],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "number of failed transactions: 0" in result.stdout, result.stderr

    replayed = LedgerEntry.objects.exclude(idempotency_key__in=["warm", "captured"])
    assert replayed.count() == 10
    for entry in replayed:
        assert re.fullmatch(r"\d+", entry.idempotency_key) and re.fullmatch(r"pst_\d+", entry.posting_id)
        assert entry.line_count == 2 and entry.policy_decisions == out.body["policy_decisions"]
        assert sorted(LedgerLine.objects.filter(entry=entry).values_list("account__code", "side", "amount_minor")) == [
            ("dst", "credit", 7), ("src", "debit", 7)]
        record = IdempotencyRecord.objects.get(key=entry.idempotency_key)
        assert (record.entry_id, record.response_status, record.outcome) == (entry.id, 201, "posted")
        assert record.response_body["id"] == entry.id and record.response_body["posting_id"] == entry.posting_id
        event = Event.objects.get(public_id=record.response_body["event_id"])
        assert event.payload["id"] == entry.id
        assert AuditEvent.objects.filter(action="ledger_entry.posted", target_id=str(entry.id)).count() == 1
    # Every replay moved the balances as the captured posting did.
    assert Account.objects.get(code="src").posted_balance == 1 + 7 * 11
    assert ledger_check() == []
    connection.set_schema_to_public()
