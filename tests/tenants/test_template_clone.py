"""A tenant schema cloned from the template is the template: same tables,
columns, defaults, indexes, constraints, triggers, sequences, functions, views
and rows -- and it behaves the same (identities continue, triggers fire)."""
from __future__ import annotations

import re

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from tenants.services import template as template_svc
from tenants.services.template import template_clone, template_schema_name

SIGNATURE_SQL = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, ''), is_identity,
               identity_generation, is_generated, coalesce(generation_expression, '')
        FROM information_schema.columns WHERE table_schema = %(s)s
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
    # A CHECK expression may be printed differently after a dump and restore
    # (`x::text = ANY (ARRAY[...]::text[])` vs `ANY (ARRAY[...::text])`, same
    # meaning), so for those the columns they constrain stand in for the text;
    # the behaviour test below shows they still bite.
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, c.condeferrable, c.condeferred,
               CASE WHEN c.contype = 'c' THEN coalesce(c.conkey::text, '') ELSE pg_get_constraintdef(c.oid) END
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %(s)s
    """,
    "triggers": """
        SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND NOT t.tgisinternal
    """,
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, coalesce(last_value, 0)
        FROM pg_sequences WHERE schemaname = %(s)s
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s
    """,
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = %(s)s",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %(s)s AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
    """,
}


_CAST = re.compile(r"::(character varying|text|integer|bigint)(\[\])?")


def _normalized(kind: str, text: str) -> str:
    """PostgreSQL re-prints an index predicate such as `status IN ('a', 'b')`
    on a varchar column with its casts in other places after a dump and
    restore (`ARRAY['a'::varchar]::text[]` vs `ARRAY[('a'::varchar)::text]`):
    the same index, spelled differently. Compare predicates without casts,
    parentheses and spaces; everything else is compared as printed."""
    if kind != "indexes" or " WHERE " not in text:
        return text
    head, _, predicate = text.partition(" WHERE ")
    return head + " WHERE " + re.sub(r"[()\s]", "", _CAST.sub("", predicate))


def signature(schema: str) -> dict[str, set]:
    """Everything that defines a schema, with its own name written as `S`."""
    out = {}
    with connection.cursor() as cur:
        cur.execute("SET search_path = public")
        for kind, sql in SIGNATURE_SQL.items():
            cur.execute(sql, {"s": schema})
            out[kind] = {
                tuple(_normalized(kind, str(v).replace(f'"{schema}"', "S").replace(schema, "S")) for v in row)
                for row in cur.fetchall()
            }
    return out


def rows(schema: str, table: str) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY 1')
        return cur.fetchall()


def clone(schema: str) -> None:
    with transaction.atomic():
        template_clone(schema=schema)
    connection.set_schema_to_public()


def assert_same_but_the_log(a: dict[str, set], b: dict[str, set]) -> None:
    """Signatures equal, but for the audit log's sequence: a tenant's log
    starts with its own creation (tenant.created, api_key.created), written
    after the clone."""
    moved = a["sequences"] ^ b["sequences"]
    assert {row[0] for row in moved} <= {"audit_auditevent_id_seq"}
    assert {**a, "sequences": a["sequences"] - moved} == {**b, "sequences": b["sequences"] - moved}


def test_tenant_schema_matches_the_template(tenant_a):
    cloned = signature(tenant_a.tenant.schema_name)
    assert_same_but_the_log(cloned, signature(template_schema_name()))
    assert len(cloned["columns"]) > 20 and cloned["triggers"], "the template should not be empty"
    for table in ("django_migrations", "django_content_type", "auth_permission"):
        assert rows(tenant_a.tenant.schema_name, table) == rows(template_schema_name(), table), table


def test_clone_leaves_the_connection_usable(tenant_a):
    with connection.cursor() as cur:
        cur.execute("SHOW search_path")
        assert cur.fetchone()[0] not in ("", '""')
        cur.execute("SELECT count(*) FROM tenants_tenant")  # unqualified: public must be on the path


RICH_TEMPLATE = """
CREATE SCHEMA {s};
CREATE TYPE {s}.side AS ENUM ('debit', 'credit');
CREATE DOMAIN {s}.positive_minor AS bigint CHECK (VALUE > 0);
CREATE SEQUENCE {s}.entry_number START 1000;
SELECT setval('{s}.entry_number', 1041);
CREATE TABLE {s}.account (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    code varchar(40) NOT NULL,
    status varchar(10) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'frozen', 'closed')),
    code_upper text GENERATED ALWAYS AS (upper(code)) STORED
);
CREATE UNIQUE INDEX account_code_open ON {s}.account (code) WHERE status <> 'closed';
CREATE TABLE {s}.line (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number bigint NOT NULL DEFAULT nextval('{s}.entry_number'),
    account_id bigint NOT NULL REFERENCES {s}.account (id) DEFERRABLE INITIALLY DEFERRED,
    side {s}.side NOT NULL,
    amount {s}.positive_minor NOT NULL
);
CREATE FUNCTION {s}.line_total() RETURNS bigint LANGUAGE sql AS $$ SELECT coalesce(sum(amount), 0) FROM {s}.line $$;
CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER line_append_only BEFORE UPDATE OR DELETE ON {s}.line FOR EACH ROW EXECUTE FUNCTION {s}.refuse();
CREATE CONSTRAINT TRIGGER line_checked AFTER INSERT ON {s}.line DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
ALTER TABLE {s}.line DISABLE TRIGGER line_checked;
CREATE VIEW {s}.balances AS SELECT account_id, sum(amount) AS total FROM {s}.line GROUP BY account_id;
INSERT INTO {s}.account (code) VALUES ('customer_balance'), ('reserved_balance');
INSERT INTO {s}.line (account_id, side, amount) VALUES (1, 'debit', 125000), (2, 'credit', 125000);
CREATE MATERIALIZED VIEW {s}.line_count AS SELECT count(*) AS n FROM {s}.line;
ALTER TABLE {s}.account ALTER COLUMN id RESTART WITH 50;
"""


@pytest.fixture
def rich_template(settings):
    """A template with every kind of object a tenant app might add."""
    from core.dbtriggers import REFUSE_MUTATION_FN

    name = f"tpl_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cur:
        cur.execute(REFUSE_MUTATION_FN)
        cur.execute(RICH_TEMPLATE.format(s=name))
        # The clone runs as the provisioning function's owner, which is not
        # this test's user once test_db_roles has handed it to zentra_owner.
        cur.execute("SELECT pg_get_userbyid(proowner) = current_user, quote_ident(pg_get_userbyid(proowner)) FROM pg_proc"
                    " WHERE oid = 'public.zentra_schema_provision(text, text)'::regprocedure")
        mine, owner = cur.fetchone()
        if not mine:
            cur.execute(f"GRANT USAGE ON SCHEMA {name} TO {owner}; GRANT SELECT ON ALL TABLES IN SCHEMA {name} TO {owner};"
                        f" GRANT SELECT ON ALL SEQUENCES IN SCHEMA {name} TO {owner}")
    settings.TENANT_BASE_SCHEMA = name
    yield name
    with connection.cursor() as cur:
        cur.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_clone_copies_every_kind_of_object(rich_template):
    target = f"c_{uuid.uuid4().hex[:8]}"
    clone(target)
    try:
        assert signature(target) == signature(rich_template)
        assert rows(target, "account") == rows(rich_template, "account")
        assert rows(target, "line") == rows(rich_template, "line")
        assert rows(target, "line_count") == [(2,)]
        with connection.cursor() as cur:
            # Identities and sequences continue where the template's stood.
            cur.execute(f"INSERT INTO {target}.account (code) VALUES ('payout') RETURNING id, code_upper")
            assert cur.fetchone() == (50, "PAYOUT")
            cur.execute(f"INSERT INTO {target}.line (account_id, side, amount) VALUES (1, 'debit', 5) RETURNING id, number")
            assert cur.fetchone() == (3, 1044)  # the template drew 1042 and 1043
            cur.execute(f"SELECT {target}.line_total(), (SELECT total FROM {target}.balances WHERE account_id = 1)")
            assert cur.fetchone() == (250005, 125005)
        # Triggers and constraints are the clone's own, and they fire.
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"DELETE FROM {target}.line")
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"INSERT INTO {target}.line (account_id, side, amount) VALUES (1, 'debit', 0)")
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"INSERT INTO {target}.line (account_id, side, amount) VALUES (999, 'debit', 1)")
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"INSERT INTO {target}.account (code, status) VALUES ('x', 'deleted')")
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"INSERT INTO {target}.account (code) VALUES ('customer_balance')")
        # The template itself is untouched.
        assert len(rows(rich_template, "line")) == 2
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{target}" CASCADE')


def test_clone_rolls_back_with_its_transaction(rich_template):
    target = f"c_{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError), transaction.atomic():
        template_clone(schema=target)
        raise RuntimeError("provisioning failed after the clone")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [target])
        assert cur.fetchone()[0] == 0


def test_without_pg_dump_new_schemas_are_migrated(tenant_a, monkeypatch):
    monkeypatch.setattr(template_svc, "_pg_dump_unusable", "pg_dump not installed (simulated)")
    target = f"c_{uuid.uuid4().hex[:8]}"
    clone(target)
    try:
        assert_same_but_the_log(signature(target), signature(tenant_a.tenant.schema_name))
        assert rows(target, "django_migrations") != []
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{target}" CASCADE')


def test_a_current_template_is_not_rebuilt(tenant_a):
    """The template records the shared apps' migrations too; only the tenant
    apps' count. Counting all of them rebuilt the template in every new
    process (each web and worker process, each `tenant_template` run)."""
    template_svc._checked.ok = False
    assert template_svc.template_ensure() is False


def test_a_stale_template_is_not_rebuilt_by_the_app_role(tenant_a, settings, monkeypatch):
    """Connected as the app (not the owner), a template behind the migrations
    is an error that says what to run, not a rebuild."""
    settings.DB_OWNER_ROLE = "zentra_owner"  # this connection's user is not it
    expected = template_svc._expected_migrations()
    monkeypatch.setattr(template_svc, "_expected_migrations", lambda: expected | {("ledger", "9999_future")})
    template_svc._checked.ok = False
    with pytest.raises(template_svc.TemplateStale, match="without ledger.9999_future; run `manage.py tenant_template`") as exc:
        template_svc.template_ensure()
    assert exc.value.status == 503 and exc.value.code == "tenant_template_stale"
    template_svc._checked.ok = False
