"""The posting triggers have a fast path (static SQL, when search_path is the
table's schema) and the original dynamic path (any other search_path). Both
must keep the same promises."""
import pytest
from django.db import DatabaseError, connection, transaction

from ledger.checks import ledger_check
from ledger.models import Account
from tests.ledger import factories as f


def _entry_sql(schema: str, key: str, a: int, b: int, debit: int, credit: int) -> str:
    return (
        f"INSERT INTO {schema}.ledger_ledgerentry (posting_id, kind, idempotency_key, request_hash, external_reference,"
        " source_event, description, effective_at, created_at, metadata, actor_kind, actor_ref, correlation_id,"
        f" policy_decisions, line_count) VALUES ('pst_{key}', 'standard', '{key}', 'h', '', '', '', now(), now(), '{{}}',"
        " 'system', 'sql', 'c', '[]', 2);"
        f"INSERT INTO {schema}.ledger_idempotencyrecord (key, operation, request_hash, actor_ref, correlation_id,"
        " created_at, replay_count, replays, outcome, response_status, response_body, completed_at, entry_id)"
        f" VALUES ('{key}', 'sql', 'h', 'sql', 'c', now(), 0, '[]', 'posted', 201, '{{}}', now(),"
        f" currval(pg_get_serial_sequence('{schema}.ledger_ledgerentry', 'id')));"
        f"INSERT INTO {schema}.ledger_ledgerline (entry_id, account_id, side, amount_minor, currency) VALUES"
        f" (currval(pg_get_serial_sequence('{schema}.ledger_ledgerentry', 'id')), {a}, 'debit', {debit}, 'USD'),"
        f" (currval(pg_get_serial_sequence('{schema}.ledger_ledgerentry', 'id')), {b}, 'credit', {credit}, 'USD');"
    )


@pytest.mark.parametrize("search_path", ["tenant", "public"])
def test_both_trigger_paths_apply_and_refuse(tenant_a, search_path):
    connection.set_tenant(tenant_a.tenant)
    schema = tenant_a.tenant.schema_name
    a = f.account(code="a", normal_side="debit", kind="asset")
    b = f.account(code="b")
    path = f'"{schema}", public' if search_path == "tenant" else "public"
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL search_path = {path}")
            cur.execute(_entry_sql(schema, "ok-1", a.id, b.id, 70, 70))
        with pytest.raises(DatabaseError, match="unbalanced"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(f"SET LOCAL search_path = {path}")
                cur.execute(_entry_sql(schema, "bad-1", a.id, b.id, 70, 69) + "SET CONSTRAINTS ALL IMMEDIATE;")
        connection.set_tenant(tenant_a.tenant)
        assert Account.objects.get(id=a.id).posted_balance == 70
        assert Account.objects.get(id=b.id).posted_balance == 70
        assert ledger_check() == []
    finally:
        connection.set_schema_to_public()
