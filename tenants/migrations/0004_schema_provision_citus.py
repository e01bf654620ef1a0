"""zentra_schema_provision on a Citus coordinator: the new schema becomes a
distributed schema (its tables one shard group on one worker).

A schema built by DDL inside a PL/pgSQL function is not converted by
`citus.enable_schema_based_sharding` (Citus only sees top-level utility
statements), so the clone is built as a plain local schema with the setting
off for the transaction and then handed to `citus_schema_distribute`, in the
caller's transaction: a failed provisioning still leaves nothing, on any
node. Without the citus extension the function does exactly what 0003's did.
"""
import importlib

from django.db import migrations

_base = importlib.import_module("tenants.migrations.0003_schema_provision")
PLACEHOLDER = _base.PLACEHOLDER

_RUN = f"    EXECUTE replace(s.script, '{PLACEHOLDER}', quote_ident(target));\n"
_fn = _base.SQL[_base.SQL.index("CREATE FUNCTION public.zentra_schema_provision"):]
_fn = _fn[:_fn.index("REVOKE ALL ON FUNCTION")]
assert _RUN in _fn and _fn.rstrip().endswith("END\n$fn$;")


def _with_citus(fn: str) -> str:
    fn = fn.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    fn = fn.replace(
        _RUN,
        "    citus := EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');\n"
        "    IF citus THEN\n"
        "        -- built locally first: see the module doc\n"
        "        PERFORM set_config('citus.enable_schema_based_sharding', 'off', true);\n"
        "    END IF;\n" + _RUN,
        1,
    )
    fn = fn.replace("    g record;\nBEGIN", "    g record;\n    citus boolean;\nBEGIN", 1)
    body_end = fn.rstrip().rindex("END\n$fn$;")
    return (fn[:body_end]
            + "    IF citus THEN\n"
              "        PERFORM citus_schema_distribute(target::regnamespace);\n"
              "    END IF;\n"
            + fn[body_end:])


SQL = _with_citus(_fn)
REVERSE = _fn.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0003_schema_provision"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
