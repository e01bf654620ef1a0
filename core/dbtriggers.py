"""SQL for the database-enforced invariants, used by migrations.

Each trigger's current definition is one file in the app that owns it
(`<app>/sql/<name>.sql`); migrations run those files (`sql_apply`). Trigger
*functions* live in the public schema (CREATE OR REPLACE is idempotent, so
every tenant migration can run it); the *triggers* live on each tenant table
and are copied when a tenant schema is cloned from the template.
docs/ledger-invariants.md lists every trigger, why it exists and its file.
"""
from pathlib import Path

from django.db import migrations

ROOT = Path(__file__).resolve().parent.parent


def sql_text(app: str, name: str) -> str:
    """The SQL in `<app>/sql/<name>.sql`: the current definition of a trigger
    (its function and its CREATE TRIGGER statements), every statement
    idempotent, so it can run again on a schema that already has it."""
    return (ROOT / app / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def sql_apply(app: str, *names: str) -> list[migrations.RunSQL]:
    """Migration operations that run `<app>/sql/<name>.sql` for each name, in
    order, the way RunSQL runs a string. Reversing is a no-op: the functions
    live in `public` and serve every tenant schema, so a migration that
    changes one and must be reversible gives its own RunSQL with the previous
    text."""
    return [migrations.RunSQL(sql_text(app, name), migrations.RunSQL.noop) for name in names]


# audit/sql/refuse_mutation.sql; every app with an append-only table uses it.
REFUSE_MUTATION_FN = sql_text("audit", "refuse_mutation")


def append_only(table: str) -> list[migrations.RunSQL]:
    """UPDATE, DELETE and TRUNCATE on `table` raise, whoever runs them."""
    return [
        migrations.RunSQL(REFUSE_MUTATION_FN, migrations.RunSQL.noop),
        migrations.RunSQL(
            f"""
            CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION public.zentra_refuse_mutation();
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION public.zentra_refuse_mutation();
            """,
            f"""
            DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
            DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
            """,
        ),
    ]


def drop_prefix_indexes(*names: str) -> migrations.RunSQL:
    """Drop `varchar_pattern_ops` twins (`*_like`) that Django adds to every
    indexed or unique CharField for LIKE 'prefix%' lookups, where nothing
    filters the column by prefix: each one is an index insert per row written
    for no reader. Not reversed: they are Django's implicit indexes, and
    `AlterField` drops them with IF EXISTS, so their absence is safe."""
    return migrations.RunSQL([f"DROP INDEX IF EXISTS {name}" for name in names], migrations.RunSQL.noop)
