"""Database roles: the app reads and writes rows; it owns nothing.

- the owner role (`zentra_owner`, NOLOGIN) owns every schema, table, sequence
  and Zentra trigger function. Migrations and tenant provisioning create
  objects as it.
- the app role (`zentra_app`, LOGIN, NOINHERIT) is what web and workers
  connect as. Per table, decided by the table's own triggers so a new table
  is classified by the migration that protects it:
    append-only (`<table>_no_update_delete` trigger)  SELECT, INSERT
    never deleted (`<table>_no_delete` trigger)         SELECT, INSERT, UPDATE
    every other table                                   SELECT, INSERT, UPDATE, DELETE
  never TRUNCATE, REFERENCES or TRIGGER, and since it owns nothing it cannot
  ALTER, DROP or disable a trigger. Two tables it locks with SELECT ... FOR
  UPDATE (which PostgreSQL allows only with an UPDATE privilege) get UPDATE on
  their `id` column alone; the append-only trigger still refuses any UPDATE.
- the app role is not a member of the owner role: it cannot `SET ROLE` to
  it. A new tenant schema is made by `public.zentra_schema_provision`
  (tenants/migrations/0003), a SECURITY DEFINER function that runs the
  owner's stored copy of the template; EXECUTE on it is the only owner's
  power the app role has. Earlier versions made the app a member (NOINHERIT)
  for provisioning; db_roles takes that membership back.

On a Citus coordinator the owner can log in, with a password only Citus
holds (_citus_owner_login): Citus connects to the workers as the current
user when provisioning distributes a schema.

Everything here is idempotent: `manage.py db_roles` may run on every start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from psycopg import errors as pg_errors
from psycopg import sql
from django.db import IntegrityError, ProgrammingError, transaction
import secrets

DEFAULT_OWNER = "zentra_owner"
DEFAULT_APP = "zentra_app"
# Locked FOR UPDATE by ledger services (ledger/locks.py: entries being
# reversed; ledger/services/policies.py: the current version being revised).
LOCKED_APPEND_ONLY = ("ledger_ledgerentry", "ledger_policy")
# tenants/migrations/0003: how the app role makes a tenant schema without being the owner.
SCRIPT_TABLE = "zentra_template_script"
PROVISION_FN = "public.zentra_schema_provision(text, text)"
_SYSTEM_SCHEMAS = "nspname !~ '^pg_' AND nspname <> 'information_schema'"


@dataclass
class RolesReport:
    created: list[str] = field(default_factory=list)
    reassigned: int = 0
    schemas: int = 0
    append_only: int = 0
    no_delete: int = 0

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _exec(cur, query, params=None) -> None:
    cur.execute(query.as_string(cur.connection) if isinstance(query, sql.Composable) else query, params)


def _role_exists(cur, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    return cur.fetchone() is not None


def _role_create(cur, name: str, attributes: str) -> bool:
    if _role_exists(cur, name):
        return False

    try:
        # Roles are global to the cluster: another database's run may create
        # it between the check and here (a savepoint keeps ours usable).
        with transaction.atomic():
            _exec(cur, sql.SQL("CREATE ROLE {} " + attributes).format(sql.Identifier(name)))
        return True
    except (IntegrityError, ProgrammingError) as exc:
        if isinstance(exc.__cause__, (pg_errors.DuplicateObject, pg_errors.UniqueViolation)):
            return False
        raise


def db_roles_ensure(*, owner: str = DEFAULT_OWNER, app: str = DEFAULT_APP, app_password: str | None = None,
                    only_schemas: list[str] | None = None) -> RolesReport:
    """Create both roles, hand every object to the owner, grant the app its
    rows. Run as a superuser (or the database owner with CREATEROLE).
    `only_schemas`: walk just these (a test database holds hundreds of
    throwaway tenant schemas; production walks all)."""
    report = RolesReport()
    O, A = sql.Identifier(owner), sql.Identifier(app)
    with transaction.atomic(), connection.cursor() as cur:
        if _role_create(cur, owner, "NOLOGIN"):
            report.created.append(owner)
        if _role_create(cur, app, "LOGIN NOINHERIT"):
            report.created.append(app)
        _exec(cur, sql.SQL("ALTER ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(A))
        if app_password:
            _exec(cur, sql.SQL("ALTER ROLE {} PASSWORD {}").format(A, sql.Literal(app_password)))
        # Membership would let any statement of the app's `SET ROLE` to the
        # owner and drop or disable the ledger's triggers.
        cur.execute("SELECT EXISTS (SELECT FROM pg_auth_members WHERE roleid = %s::regrole AND member = %s::regrole)",
                    [owner, app])
        if cur.fetchone()[0]:
            _exec(cur, sql.SQL("REVOKE {} FROM {}").format(O, A))
        if _citus(cur):
            _citus_owner_login(cur, owner)
            # The epoch sequence is created on the workers by ledger/migrations/0014 (not by
            # Citus), so handing it to the owner does not travel there by itself.
            cur.execute("SELECT run_command_on_workers(format("
                        "'ALTER SEQUENCE IF EXISTS public.zentra_policy_epoch_seq OWNER TO %%I', %s::text))", [owner])
        db = sql.Identifier(connection.settings_dict["NAME"])
        _exec(cur, sql.SQL("GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {} TO {}").format(db, O))
        _exec(cur, sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, A))
        _exec(cur, sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(O))
        report.reassigned = _reassign_functions(cur, owner)
        cur.execute("SELECT to_regprocedure(%s) IS NOT NULL", [PROVISION_FN])
        if cur.fetchone()[0]:  # before the first migrate it does not exist yet
            _exec(cur, f"REVOKE ALL ON FUNCTION {PROVISION_FN} FROM PUBLIC")
            _exec(cur, sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(PROVISION_FN), A))
        # Objects the owner creates from now on (new tenant schemas, new
        # tables): the app gets rows by default; schema_grant narrows them.
        _exec(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT USAGE ON SCHEMAS TO {}").format(O, A))
        _exec(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}")
              .format(O, A))
        _exec(cur, sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(O, A))
        cur.execute(f"SELECT nspname FROM pg_namespace WHERE {_SYSTEM_SCHEMAS} ORDER BY nspname")
        schemas = [r[0] for r in cur.fetchall() if only_schemas is None or r[0] in only_schemas]
    # One transaction per schema: ALTER ... OWNER and GRANT lock each table,
    # and a database with hundreds of tenants would run out of lock slots
    # (max_locks_per_transaction) in a single one.
    for schema in schemas:
        with transaction.atomic(), connection.cursor() as cur:
            if _schema_settled(cur, owner, app, schema):
                continue
            report.reassigned += _reassign_schema(cur, owner, schema)
            counts = schema_grant(schema=schema, app=app, cursor=cur)
        report.schemas += 1
        report.append_only += counts[0]
        report.no_delete += counts[1]
    return report


def _citus(cur) -> bool:
    cur.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
    return cur.fetchone()[0]


def _citus_owner_login(cur, owner: str) -> None:
    """On a Citus coordinator, provisioning distributes the new schema as the
    owner (zentra_schema_provision is SECURITY DEFINER), and Citus opens its
    connections to the workers as the current user: the owner must be able
    to log in there. It gets a random password that only Citus holds, in
    pg_dist_authinfo (superuser-only, synced to every node, used for every
    node: nodeid 0). No person or process is given it, the app role still is
    not a member of the owner, so nothing the app runs can act as the owner;
    pg_hba.conf should accept the owner from the cluster's nodes only."""
    cur.execute("SELECT EXISTS (SELECT FROM pg_dist_authinfo WHERE rolename = %s AND nodeid = 0)"
                " AND (SELECT rolcanlogin FROM pg_roles WHERE rolname = %s)", [owner, owner])
    if cur.fetchone()[0]:
        return
    password = secrets.token_urlsafe(32)
    _exec(cur, sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(owner), sql.Literal(password)))
    cur.execute("DELETE FROM pg_dist_authinfo WHERE rolename = %s AND nodeid = 0", [owner])
    cur.execute("INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s)",
                [owner, f"password={password}"])


def _schema_settled(cur, owner: str, app: str, schema: str) -> bool:
    """One catalog query: is every relation the owner's, and does the app
    have exactly its class's privileges on every table? Then a re-run skips
    the schema (make run calls db_roles on every start)."""
    cur.execute("""
        SELECT has_schema_privilege(%(app)s, n.oid, 'USAGE')
           AND NOT EXISTS (
               SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %(owner)s)
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND d.deptype IN ('e', 'a', 'i')))
           AND NOT EXISTS (
               SELECT 1 FROM pg_class c
               LEFT JOIN LATERAL (SELECT bool_or(t.tgname LIKE '%%\_no\_update\_delete') AS ao,
                                         bool_or(t.tgname LIKE '%%\_no\_delete') AS nd
                                  FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) k ON true
               WHERE c.relnamespace = n.oid AND c.relkind = 'r'
                 AND CASE WHEN n.nspname = 'public' AND c.relname = %(script)s
                          THEN has_table_privilege(%(app)s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
                          ELSE (NOT has_table_privilege(%(app)s, c.oid, 'SELECT')
                      OR NOT has_table_privilege(%(app)s, c.oid, 'INSERT')
                      OR has_table_privilege(%(app)s, c.oid, 'TRUNCATE')
                      OR has_table_privilege(%(app)s, c.oid, 'DELETE') = (coalesce(k.ao, false) OR coalesce(k.nd, false))
                      OR has_table_privilege(%(app)s, c.oid, 'UPDATE') = coalesce(k.ao, false)) END)
        FROM pg_namespace n WHERE n.nspname = %(schema)s""", {"app": app, "owner": owner, "schema": schema,
                                                              "script": SCRIPT_TABLE})
    row = cur.fetchone()
    return bool(row and row[0])


def _reassign_schema(cur, owner: str, schema: str) -> int:
    """ALTER ... OWNER for the schema and its relations not already the
    owner's (extension members and sequences owned by a column, which move
    with their table, left alone)."""
    O, S = sql.Identifier(owner), sql.Identifier(schema)
    n = 0
    cur.execute("SELECT nspowner <> (SELECT oid FROM pg_roles WHERE rolname = %s) FROM pg_namespace WHERE nspname = %s",
                [owner, schema])
    if schema != "public" and cur.fetchone()[0]:
        _exec(cur, sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(S, O))
        n += 1
    cur.execute("""
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                          AND d.deptype IN ('e', 'a', 'i'))""", [schema, owner])
    for rel, kind in cur.fetchall():
        what = "SEQUENCE" if kind == "S" else "TABLE"
        _exec(cur, sql.SQL("ALTER {} {}.{} OWNER TO {}").format(sql.SQL(what), S, sql.Identifier(rel), O))
        n += 1
    return n


def _reassign_functions(cur, owner: str) -> int:
    # Migrations CREATE OR REPLACE the trigger functions: only their owner may.
    O = sql.Identifier(owner)
    n = 0
    cur.execute("""
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = %s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                          AND d.deptype = 'e')""", [owner])
    for (signature,) in cur.fetchall():
        _exec(cur, sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), O))
        n += 1
    return n


def schema_grant_if_roles(*, schema: str) -> None:
    """After provisioning created `schema` as the owner: the app's grants."""
    if getattr(settings, "DB_OWNER_ROLE", ""):
        schema_grant(schema=schema)


def schema_grant(*, schema: str, app: str | None = None, cursor=None) -> tuple[int, int]:
    """The app's privileges on one schema's tables (see the module doc).
    Returns (append-only tables, never-deleted tables)."""
    app = app or getattr(settings, "DB_APP_ROLE", DEFAULT_APP) or DEFAULT_APP
    S, A = sql.Identifier(schema), sql.Identifier(app)

    def run(cur):
        _exec(cur, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(S, A))
        _exec(cur, sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(S, A))
        _exec(cur, sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {} FROM {}").format(S, A))
        _exec(cur, sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(S, A))
        if schema == "public":
            # The owner's script for new tenant schemas: whoever could write
            # it could run any DDL as the owner (zentra_schema_provision).
            _exec(cur, sql.SQL("REVOKE ALL ON public.{} FROM {}").format(sql.Identifier(SCRIPT_TABLE), A))
        cur.execute("""
            SELECT c.relname, bool_or(t.tgname LIKE '%%\\_no\\_update\\_delete'), bool_or(t.tgname LIKE '%%\\_no\\_delete')
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND NOT t.tgisinternal GROUP BY c.relname""", [schema])
        append_only = no_delete = 0
        for table, is_append_only, is_no_delete in cur.fetchall():
            T = sql.SQL("{}.{}").format(S, sql.Identifier(table))
            if is_append_only:
                _exec(cur, sql.SQL("REVOKE UPDATE, DELETE ON {} FROM {}").format(T, A))
                if table in LOCKED_APPEND_ONLY:
                    _exec(cur, sql.SQL("GRANT UPDATE (id) ON {} TO {}").format(T, A))
                append_only += 1
            elif is_no_delete:
                _exec(cur, sql.SQL("REVOKE DELETE ON {} FROM {}").format(T, A))
                no_delete += 1
        return append_only, no_delete

    if cursor is not None:
        return run(cursor)
    with connection.cursor() as cur:
        return run(cur)
