"""SQL for the database-enforced invariants, used by migrations.

Trigger *functions* live in the public schema (CREATE OR REPLACE is
idempotent, so every tenant migration can run it); the *triggers* live on each
tenant table and are copied when a tenant schema is cloned from the template.
docs/ledger-invariants.md lists every trigger and why it exists.
"""
from django.db import migrations

REFUSE_MUTATION_FN = r"""
CREATE OR REPLACE FUNCTION public.zentra_refuse_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'zentra: % on %.% is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
"""


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
