"""Each trigger's definition lives in one `<app>/sql/<name>.sql` file
(core.dbtriggers, docs/ledger-invariants.md). The files must be what
the database runs and idempotent, and a schema built by the migrations
before the files existed must migrate forward to exactly what a new schema
gets."""
import re
import uuid

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from core.dbtriggers import ROOT

# The apps with trigger files, and their migration before the one that runs them.
PREVIOUS = {
    "ledger": "0014_approval_kind_recon_adjust",
    "audit": "0004_one_pattern_index",
    "closeout": "0001_initial",
    "webhooks": "0006_event_to_events",
}
FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION public\.(\w+)\(.*?\$(\w*)\$\n?(.*?)\$\2\$", re.S)


def sql_files() -> list:
    return sorted(p for app in PREVIOUS for p in (ROOT / app / "sql").glob("*.sql"))


def triggers(schema: str) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname || '.' || t.tgname, t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid)"
            "  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT t.tgisinternal AND n.nspname = %s",
            [schema],
        )
        return {name: d.replace(f"{schema}.", "<schema>.") for name, d in cur.fetchall()}


def functions() -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
            " WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'zentra\\_%%'"
        )
        return dict(cur.fetchall())


def test_every_function_body_is_its_file(tenant_a):
    """The source PostgreSQL holds for each function is the file's, byte for
    byte (the functions exist once a tenant schema has been migrated)."""
    defined = {}
    for path in sql_files():
        for name, _tag, body in FUNCTION.findall(path.read_text()):
            assert name not in defined, f"{name} is defined in {defined.get(name)} and {path}"
            defined[name] = path
            with connection.cursor() as cur:
                cur.execute("SELECT prosrc FROM pg_proc WHERE proname = %s AND pronamespace = 'public'::regnamespace",
                            [name])
                (src,) = cur.fetchone()
            assert src.strip("\n") == body.strip("\n"), f"{name} differs from {path}"
    # Every trigger function the tenant tables call has its file.
    assert {"zentra_refuse_mutation", "zentra_line_apply", "zentra_entry_balanced", "zentra_account_guard",
            "zentra_idempotency_guard", "zentra_hold_apply", "zentra_holdmovement_guard", "zentra_reversal_bounded",
            "zentra_approval_guard", "zentra_policy_epoch_bump", "zentra_chain_links_extend_head",
            "zentra_export_digest_once", "zentra_entry_period_open"} <= set(defined)


def test_every_trigger_has_one_file_and_running_them_again_changes_nothing(tenant_a):
    schema = tenant_a.tenant.schema_name
    before_triggers, before_functions = triggers(schema), functions()
    assert len(before_triggers) >= 40
    texts = {p: p.read_text() for p in sql_files()}
    for name in before_triggers:
        trigger = name.split(".", 1)[1]
        holders = [p.name for p, text in texts.items() if re.search(rf"TRIGGER {trigger} ", text)]
        assert len(holders) == 1, f"trigger {trigger} is created in {holders}"
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f'SET LOCAL search_path = "{schema}", public')
        for text in texts.values():
            # As RunSQL runs them: split into statements, comments stripped.
            for statement in connection.ops.prepare_sql_script(text):
                cur.execute(statement)
        assert triggers(schema) == before_triggers
        assert functions() == before_functions
        transaction.set_rollback(True)


@pytest.mark.slow
def test_a_schema_at_the_previous_migrations_migrates_forward_to_a_new_schemas_triggers(tenant_a):
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    try:
        for app, name in PREVIOUS.items():
            call_command("migrate_schemas", app, name, schema_name=schema, tenant=True, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        assert "ledger_ledgerline.ledgerline_apply" in triggers(schema)
        call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute(f'SELECT app, name FROM "{schema}".django_migrations WHERE name LIKE %s', ["%trigger_sql_files"])
            assert {app for app, _ in cur.fetchall()} == set(PREVIOUS)
        assert triggers(schema) == triggers(tenant_a.tenant.schema_name)
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
