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


def test_ledger_lines_export_matches_its_manifest(seed_accounts):
    import csv
    import hashlib
    import io

    seed_accounts.post("/v1/ledger-entries", {"debit": "customer_balance", "credit": "reserved_balance",
                                              "amount_minor": 125000, "currency": "USD",
                                              "description": "=cmd|' /C calc'!A0", "external_reference": "-5",
                                              "idempotency_key": "exp-1"}, format="json")
    r = seed_accounts.post("/v1/exports", {"kind": "ledger_lines", "filters": {"account": "customer_balance"}},
                           format="json")
    assert r.status_code == 201, r.content
    export_id = r.json()["id"]
    manifest = seed_accounts.get(f"/v1/exports/{export_id}/manifest").json()
    data = b"".join(seed_accounts.get(f"/v1/exports/{export_id}/file").streaming_content)
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert manifest["row_count"] == len(rows) == 2  # funding + the entry, customer side only
    assert [int(r["amount_minor"]) for r in rows] == [1_000_000, 125000]  # amounts stay numeric
    assert rows[1]["external_reference"] == "'-5"  # formula-leading text is escaped
    assert rows[1]["side"] == "debit" and rows[1]["account"] == "customer_balance"
    bad = seed_accounts.post("/v1/exports", {"kind": "ledger_lines", "filters": {"nope": 1}}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_filter"
