"""Ledger entries are sealed into the tenant's hash chain: tampering with an
entry or one of its lines is named by verify_chain."""
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.services.chain import chain_seal, chain_verify
from tests.ledger import factories as f


def test_entries_are_sealed_and_tampering_a_line_is_named(in_tenant):
    a, b = f.account(normal_side="debit", kind="asset"), f.account()
    out = f.post(debit=a, credit=b, amount=125000)
    f.post(debit=a, credit=b, amount=5)
    chain_seal()
    report = chain_verify()
    assert report.ok
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("UPDATE ledger_ledgerline SET amount_minor = 125001 WHERE entry_id = %s AND side = 'debit'",
                    [out.entry_id])
    report = chain_verify()
    assert not report.ok
    broken = report.first_broken.as_dict()
    assert broken["record_type"] == "ledger_entry"
    assert str(broken["record_id"]) == str(out.entry_id)
    connection.set_schema_to_public()
    with pytest.raises(CommandError, match=rf"ledger_entry {out.entry_id}\b"):
        call_command("verify_chain", "--tenant", in_tenant.tenant.slug)
