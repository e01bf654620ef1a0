import json

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from ledger.checks import ledger_check
from tests.ledger import factories as f


def test_clean_ledger_passes(in_tenant, capsys):
    a, b = f.account(normal_side="debit", kind="asset"), f.account()
    for i in range(5):
        f.post(debit=a, credit=b, amount=10 + i)
    assert ledger_check() == []
    connection.set_schema_to_public()
    call_command("ledger_check", "--tenant", in_tenant.tenant.slug, "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["tenants"][in_tenant.tenant.slug] == []


def _tamper(sql: str):
    """Change rows with triggers off, as a superuser restoring a bad backup might."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute(sql)


@pytest.mark.parametrize("sql,check", [
    ("UPDATE ledger_ledgerline SET amount_minor = amount_minor + 1 WHERE id = (SELECT min(id) FROM ledger_ledgerline)",
     "entry_balanced_per_currency"),
    ("UPDATE ledger_account SET posted_balance = posted_balance + 1 WHERE id = (SELECT min(id) FROM ledger_account)",
     "stored_balance_equals_lines"),
    ("UPDATE ledger_ledgerline SET balance_after = 0 WHERE id = (SELECT max(id) FROM ledger_ledgerline)",
     "running_balance_chain"),
    ("DELETE FROM ledger_ledgerline WHERE id = (SELECT max(id) FROM ledger_ledgerline)", "entry_has_two_lines"),
])
def test_each_tampering_is_named(in_tenant, sql, check, capsys):
    a, b = f.account(normal_side="debit", kind="asset"), f.account()
    f.post(debit=a, credit=b, amount=10)
    f.post(debit=a, credit=b, amount=20)
    _tamper(sql)
    assert check in {v.check for v in ledger_check()}
    connection.set_schema_to_public()
    with pytest.raises(SystemExit) as exc:
        call_command("ledger_check", "--tenant", in_tenant.tenant.slug)
    assert exc.value.code == 1
    assert check in capsys.readouterr().out
