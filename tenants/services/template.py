"""The template schema new tenants are cloned from.

Replaying every migration per tenant costs seconds; cloning a schema that is
already migrated costs a fraction of that (bench/provisioning.py measures
both). The template is rebuilt whenever the migrations on disk differ from the
ones recorded in it, so it can never lag behind the code.

How a clone is made: `pg_dump` describes the template (DDL before and after
the data, with the schema name replaced by a placeholder), and that DDL, with
the INSERT ... SELECT statements that copy the template's rows, is stored as
one script in `public.zentra_template_script` by the owner (`manage.py
tenant_template`). Each clone is `public.zentra_schema_provision(schema,
template)`: a SECURITY DEFINER function that replays the script under the new
name as the owner and gives the template's grantees the template's
privileges. The app role can call it, and cannot become the owner
(tenants/services/db_roles.py). Its cost depends on the template's size only.
django-tenants' own clone_schema() SQL function is not used: it reads
information_schema for every table, so it slows down as tenants accumulate
(about 12 ms more per existing schema with a 12-table template), and it cannot
copy constraint triggers, which the ledger's balance check needs. Without a
usable pg_dump, a new schema is migrated instead: slower, always right.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

from core import errors
from core.locks import TEMPLATE, session_lock, session_unlock
from tenants.services.db_roles import schema_grant_if_roles

log = logging.getLogger("zentra.tenants.template")
_checked = threading.local()


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def _tenant_labels() -> set[str]:
    return {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}


def _expected_migrations() -> set[tuple[str, str]]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {key for key in loader.disk_migrations if key[0] in _tenant_labels()}


def _recorded_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s)", [f'"{schema}".django_migrations']
        )
        if cur.fetchone()[0] is None:
            return set()
        cur.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        # Only the tenant apps': migrate_schemas records the shared apps'
        # migrations in a tenant schema too (their operations routed away),
        # and counting those made every process rebuild the template once.
        labels = _tenant_labels()
        return {row for row in cur.fetchall() if row[0] in labels}


def _difference(expected: set[tuple[str, str]], recorded: set[tuple[str, str]] | None) -> str:
    if recorded is None:
        return "missing"

    def names(found: set[tuple[str, str]]) -> str:
        listed = sorted(f"{app}.{name}" for app, name in found)
        return ", ".join(listed[:3]) + (f" and {len(listed) - 3} more" if len(listed) > 3 else "")

    parts = [f"without {names(expected - recorded)}" if expected - recorded else "",
             f"with {names(recorded - expected)}, which is not on disk" if recorded - expected else ""]
    return " and ".join(p for p in parts if p) or "to be rebuilt"


def template_ensure(*, force: bool = False) -> bool:
    """Make sure the template schema exists and carries every tenant migration.

    Returns True when it had to be (re)built.
    """
    if getattr(_checked, "ok", False) and not force:
        return False
    schema = template_schema_name()
    connection.set_schema_to_public()
    expected = _expected_migrations()
    session_lock(TEMPLATE)
    try:
        rebuilt = False
        recorded = _recorded_migrations(schema) if schema_exists(schema) else None
        may_own = _may_own()
        if force or recorded != expected:
            if not may_own:
                raise TemplateStale(
                    f"The template schema {schema} is {_difference(expected, recorded)}; "
                    "run `manage.py tenant_template` as the owner role (make run does).")
            with connection.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(schema)} CASCADE")
            with _sharding_off():
                _schema_migrate(schema)
            rebuilt = True
        if may_own and not _script_current():
            template_script_store()
    finally:
        connection.set_schema_to_public()
        session_unlock(TEMPLATE)
    _checked.ok = True
    return rebuilt


@contextlib.contextmanager
def _sharding_off():
    """On Citus the template stays a plain schema on the coordinator: its
    rows are what clones copy, and a distributed copy would be one more
    tenant on a worker (triggers and all). Each clone is distributed by
    zentra_schema_provision."""
    if not settings.CITUS:
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET citus.enable_schema_based_sharding = off")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET citus.enable_schema_based_sharding")


# --- cloning --------------------------------------------------------------------
SCHEMA_PLACEHOLDER = "__zentra_clone_target__"


@dataclass(frozen=True)
class TemplateSnapshot:
    """What a clone replays: the template as DDL, plus what to copy."""

    template_oid: int
    pre_data: str  # schema, types, functions, tables, sequences, views
    post_data: str  # primary keys, unique constraints, indexes, foreign keys, triggers
    # (table, ((column, type to cast to via text, or "" when none is needed), ...))
    tables: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    sequences: tuple[str, ...]


_snapshot_lock = threading.Lock()
_snapshot: TemplateSnapshot | None = None
_pg_dump_unusable: str | None = None


def _template_oid() -> int | None:
    with connection.cursor() as cur:
        cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [template_schema_name()])
        row = cur.fetchone()
    return row[0] if row else None


def _pg_dump(section: str) -> str:
    db = connection.settings_dict
    cmd = [
        shutil.which("pg_dump") or "pg_dump", "--schema", template_schema_name(), "--section", section,
        "--no-owner", "--no-privileges", "--no-comments",
        "--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432),
        "--username", db.get("USER") or "postgres", "--dbname", db["NAME"],
    ]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"pg_dump exited {done.returncode}")
    return done.stdout


_SESSION_LINE = re.compile(
    r"^(--.*|\\(un)?restrict \S+|SET [a-z_]+ = [^;]*;|SELECT pg_catalog\.set_config\('search_path', '', false\);)$"
)


def _portable(ddl: str) -> str:
    """Keep only the statements; drop session settings and psql meta-commands
    (`SET search_path = ''` would outlive the clone on this connection)."""
    kept = [line for line in ddl.splitlines() if not _SESSION_LINE.match(line)]
    return _placeholder("\n".join(kept)).strip()


def _placeholder(sql: str) -> str:
    """The template's name, quoted or not, becomes the placeholder."""
    template = re.escape(template_schema_name())
    return re.sub(rf'(?<![\w$"]){template}(?![\w$])|"{template}"', SCHEMA_PLACEHOLDER, sql)


def _snapshot_build(oid: int) -> TemplateSnapshot:
    schema = template_schema_name()
    pre, post = _portable(_pg_dump("pre-data")), _portable(_pg_dump("post-data"))
    with connection.cursor() as cur:
        # A column whose type (enum, domain, ...) lives in the template has the
        # clone's own copy of that type: its values are carried over as text.
        cur.execute(
            """
            SELECT c.relname, a.attname,
                   CASE WHEN %(oid)s IN (t.typnamespace, et.typnamespace)
                        THEN format_type(a.atttypid, a.atttypmod) ELSE '' END
            FROM pg_class c
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            WHERE c.relnamespace = %(oid)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            ORDER BY c.relname, a.attnum
            """,
            {"oid": oid},
        )
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, cast in cur.fetchall():
            columns.setdefault(table, []).append((column, _placeholder(cast) if cast else ""))
        tables = tuple((table, tuple(cols)) for table, cols in columns.items())
        cur.execute("SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind = 'S' ORDER BY relname", [oid])
        sequences = tuple(r[0] for r in cur.fetchall())
    if SCHEMA_PLACEHOLDER not in pre or schema in pre:
        raise RuntimeError("pg_dump output does not name the template schema as expected")
    return TemplateSnapshot(template_oid=oid, pre_data=pre, post_data=post, tables=tables, sequences=sequences)


def template_snapshot() -> TemplateSnapshot | None:
    """The current template as a replayable snapshot, or None when pg_dump
    cannot be used here (then new schemas are migrated instead)."""
    global _snapshot, _pg_dump_unusable
    if _pg_dump_unusable is not None:
        return None
    oid = _template_oid()
    if oid is None:
        raise RuntimeError(f"The template schema {template_schema_name()} does not exist; run tenant_template.")
    with _snapshot_lock:
        if _snapshot is None or _snapshot.template_oid != oid:
            try:
                _snapshot = _snapshot_build(oid)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _pg_dump_unusable = str(exc)
                log.warning("pg_dump is not usable (%s); new tenant schemas will be migrated, not cloned", exc)
                return None
        return _snapshot


def template_clone(*, schema: str) -> None:
    """Create `schema` as a copy of the template: structure, rows and the
    privileges the template grants.

    Runs in the caller's transaction: if anything after it fails, the schema
    is rolled back with everything else. The copy is made by
    public.zentra_schema_provision (tenants/migrations/0003), which runs the
    owner's stored script as the owner: the app role, which may call it,
    needs no way to become the owner. When the stored script is missing or
    older than the template, a connection that may act as the owner (no
    roles configured, or the owner itself) stores it first; without a usable
    pg_dump such a connection migrates the new schema instead.
    """
    assert connection.in_atomic_block, "template_clone must run inside the provisioning transaction"
    try:
        with transaction.atomic():
            _provision(schema)
        return
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "55000" or not _may_own():
            raise
    if template_script_store():
        _provision(schema)
    else:
        _schema_migrate(schema)


def _provision(schema: str) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT public.zentra_schema_provision(%s, %s)", [schema, template_schema_name()])


def _schema_migrate(schema: str) -> None:
    """Create `schema` and run every tenant migration in it, then grant
    the app role its privileges: how the template itself is built, and a
    clone where pg_dump cannot be used."""
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {connection.ops.quote_name(schema)}")
    call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    schema_grant_if_roles(schema=schema)


def _script(snapshot: TemplateSnapshot) -> str:
    """The template as one script for zentra_schema_provision: its DDL, then
    its rows (in before constraints and triggers exist, as pg_restore does:
    append-only triggers must not see the copy, and order does not matter),
    then the rest of its DDL; the new schema's name as SCHEMA_PLACEHOLDER."""
    qn = connection.ops.quote_name
    target, source = SCHEMA_PLACEHOLDER, qn(template_schema_name())
    copy = []
    for table, columns in snapshot.tables:
        names = ", ".join(qn(c) for c, _ in columns)
        values = ", ".join(f"{qn(c)}::text::{cast}" if cast else qn(c) for c, cast in columns)
        copy.append(
            f"INSERT INTO {target}.{qn(table)} ({names}) OVERRIDING SYSTEM VALUE SELECT {values} FROM {source}.{qn(table)}"
        )
    for seq in snapshot.sequences:
        copy.append(f"SELECT pg_catalog.setval('{target}.{qn(seq)}', last_value, is_called) FROM {source}.{qn(seq)}")
    parts = [snapshot.pre_data, ";\n".join(copy), snapshot.post_data]
    return ";\n".join(p.strip().rstrip(";") for p in parts if p.strip()) + ";"


def template_script_store() -> bool:
    """Store the template as zentra_schema_provision's script (only the
    owner may). False when pg_dump cannot be used here."""
    snapshot = template_snapshot()
    if snapshot is None:
        return False
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO public.zentra_template_script (id, template_name, template_oid, script, stored_at)
            VALUES (1, %s, %s, %s, now())
            ON CONFLICT (id) DO UPDATE SET template_name = EXCLUDED.template_name,
                template_oid = EXCLUDED.template_oid, script = EXCLUDED.script, stored_at = EXCLUDED.stored_at
            """,
            [template_schema_name(), snapshot.template_oid, _script(snapshot)],
        )
    return True


def _script_current() -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT FROM public.zentra_template_script s JOIN pg_namespace n"
            " ON n.nspname = s.template_name AND n.oid = s.template_oid WHERE s.template_name = %s)",
            [template_schema_name()],
        )
        return cur.fetchone()[0]


def _may_own() -> bool:
    """Whether this connection may do what only the owner does: no roles
    configured (development, tests), or connected as the owner (deploy
    steps run with ZENTRA_DB_SET_ROLE)."""
    owner = getattr(settings, "DB_OWNER_ROLE", "")
    if not owner:
        return True
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        return cur.fetchone()[0] == owner


class TemplateStale(errors.ZentraError):
    """The template is behind the code and this connection may not rebuild
    it: a deploy step was skipped, not bad input, so 503, not a 500."""

    status = 503
    code = "tenant_template_stale"
    title = "Tenant provisioning is not ready"
