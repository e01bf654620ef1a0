"""The app runs as a database role that owns nothing (docs/operations.md,
"Database roles"): it can add ledger rows, never change or remove them, and
never become the owner: a tenant schema is made by the owner's function."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent, ChainLink
from ledger.models import Account, HoldMovement, IdempotencyRecord, LedgerEntry, LedgerLine, Policy
from tests.conftest import ROOT, die_with_parent, subprocess_env
from tests.ledger import factories as f
from webhooks.models import DeliveryAttempt
from events.models import Event
from core.actors import Actor

APP, OWNER, PASSWORD = "zentra_app", "zentra_owner", "zentra_app"


def _role_schemas(tenant) -> list[str]:
    from tenants.services.template import template_schema_name

    return ["public", template_schema_name(), tenant.schema_name]


@pytest.fixture(scope="module")
def ledger(django_db_setup, django_db_blocker):
    """A tenant with postings, a hold, a policy and a sealed chain; then the
    roles applied as `make run` does, to the schemas this module uses (public,
    the template, this tenant): by now the test database holds hundreds of
    other tests' tenant schemas, and walking them all took minutes."""
    from django.conf import settings

    from audit.services.chain import chain_seal
    from ledger.services.boundary import request_hash
    from ledger.services.holds import hold_create
    from ledger.services.policies import policy_create
    from tenants.services.tenants import tenant_create

    kick, settings.WEBHOOKS_KICK_ON_COMMIT = settings.WEBHOOKS_KICK_ON_COMMIT, False
    with django_db_blocker.unblock():
        slug = f"t{uuid.uuid4().hex[:10]}"
        t = tenant_create(actor=Actor.system("tests"), slug=slug, domain=f"{slug}.localhost", with_api_key=True)
        connection.set_tenant(t.tenant)
        cash, wallet = f.account(normal_side="debit", kind="asset"), f.account()
        policy_create(actor=f.TEST_ACTOR, name="cap", kind="max_amount", params={"max_amount_minor": 10**9})
        for amount in (100, 200):
            f.post(debit=cash, credit=wallet, amount=amount)
        hold_create(actor=f.TEST_ACTOR, tenant=slug, idempotency_key="h", account=wallet.code,
                    req_hash=request_hash(operation="t", payload=["h"]), amount_minor=5, currency="USD")
        chain_seal()
        connection.set_schema_to_public()
        call_command("db_roles", app_password=PASSWORD, schemas=_role_schemas(t.tenant), stdout=open("/dev/null", "w"))
    settings.WEBHOOKS_KICK_ON_COMMIT = kick
    yield t


@pytest.fixture
def in_ledger(ledger):
    connection.set_tenant(ledger.tenant)
    yield ledger
    connection.set_schema_to_public()


def _fingerprint() -> dict[str, str]:
    """Every row of every append-only table, hashed: equal before and after
    means not one byte changed."""
    out = {}
    with connection.cursor() as cur:
        for model in (LedgerEntry, LedgerLine, Policy, HoldMovement, AuditEvent, ChainLink, Event, DeliveryAttempt,
                      Account, IdempotencyRecord):
            table = model._meta.db_table
            cur.execute(f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t")
            out[table] = cur.fetchone()
    return out


def _as_app(fn):
    """Run fn() as the app role (SET LOCAL ROLE, so the privileges checked are
    exactly zentra_app's); return the error it raised."""
    with pytest.raises(DatabaseError) as exc:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(f"SET LOCAL ROLE {APP}")
            fn()
    return str(exc.value)


def test_db_roles_is_idempotent_and_the_app_owns_nothing(in_ledger):
    ledger = in_ledger
    from tenants.services.db_roles import db_roles_ensure

    again = db_roles_ensure(owner=OWNER, app=APP, only_schemas=_role_schemas(in_ledger.tenant))
    assert again.reassigned == 0 and again.created == [] and again.schemas == 0  # every schema already settled
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)", [APP])
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT rolinherit, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", [APP])
        assert cur.fetchone() == (False, False, False, False)
        cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [ledger.tenant.schema_name])
        assert cur.fetchone()[0] == OWNER
        # Not one table of any schema grants the app TRUNCATE, and no append-only one UPDATE or DELETE.
        cur.execute("""
            SELECT c.relname, p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                 unnest(ARRAY['TRUNCATE', 'TRIGGER', 'REFERENCES']) p
            WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
              AND has_table_privilege(%s, c.oid, p)""", [APP])
        assert cur.fetchall() == []
        cur.execute("SELECT has_table_privilege(%s, %s, 'DELETE'), has_table_privilege(%s, %s, 'UPDATE')",
                    [APP, f"{ledger.tenant.schema_name}.ledger_ledgerline"] * 2)
        assert cur.fetchone() == (False, False)


# A row-changing UPDATE for the tables that are not append-only (their
# guarded columns); append-only ones refuse any UPDATE at all.
UPDATES = {
    "ledger_account": "UPDATE {t} SET posted_balance = posted_balance + 1",
    "ledger_idempotencyrecord": "UPDATE {t} SET response_status = 500, entry_id = NULL",
}
ATTEMPTS = [
    ("orm update entries", lambda: LedgerEntry.objects.update(description="rewritten")),
    # _raw_delete: the ORM's DELETE without Django's PROTECT collector
    # refusing first, so the database is what says no.
    ("orm delete entries", lambda: LedgerEntry.objects.all()._raw_delete("default")),
    ("orm update lines", lambda: LedgerLine.objects.update(amount_minor=1)),
    ("orm delete lines", lambda: LedgerLine.objects.all()._raw_delete("default")),
    ("orm update audit", lambda: AuditEvent.objects.update(actor_ref="x")),
    ("orm delete audit", lambda: AuditEvent.objects.all().delete()),
    ("orm delete chain", lambda: ChainLink.objects.all().delete()),
    ("orm update policy", lambda: Policy.objects.update(version=9)),
    ("orm delete hold movements", lambda: HoldMovement.objects.all().delete()),
    ("orm update events", lambda: Event.objects.update(type="x.y")),
    ("orm balances", lambda: Account.objects.update(posted_balance=10**9)),
    ("orm delete accounts", lambda: Account.objects.all()._raw_delete("default")),
    ("orm delete boundary", lambda: IdempotencyRecord.objects.all()._raw_delete("default")),
    *[(f"raw {sql.split()[0]} {table}", (lambda sql=sql, table=table: connection.cursor().execute(sql.format(t=table))))
      for table in ("ledger_ledgerentry", "ledger_ledgerline", "audit_auditevent", "audit_chainlink", "ledger_policy",
                    "ledger_holdmovement", "webhooks_event", "webhooks_deliveryattempt", "ledger_account",
                    "ledger_idempotencyrecord")
      for sql in (UPDATES.get(table, "UPDATE {t} SET id = id"), "DELETE FROM {t}", "TRUNCATE {t} CASCADE")],
    ("raw disable triggers", lambda: connection.cursor().execute("ALTER TABLE ledger_ledgerline DISABLE TRIGGER ALL")),
    ("raw replica mode", lambda: connection.cursor().execute("SET session_replication_role = replica")),
    ("raw drop", lambda: connection.cursor().execute("DROP TABLE ledger_ledgerline CASCADE")),
]


def test_app_role_changes_nothing(in_ledger):
    """UPDATE / DELETE / TRUNCATE through the ORM and raw SQL as zentra_app:
    each refused, and not one byte of any ledger or audit table changes."""
    before = _fingerprint()
    allowed = []
    for name, action in ATTEMPTS:
        try:
            msg = _as_app(action)
        except pytest.fail.Exception:
            allowed.append(name)
            continue
        assert "permission denied" in msg or "must be owner" in msg or "refused" in msg or "balances change only" in msg or "immutable" in msg, (
            name, msg)
    assert allowed == []
    assert _fingerprint() == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port: int, host: str, key: str, method: str, path: str, body: dict | None = None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Host": host, "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_api_posting_path_connected_as_the_app_role(in_ledger, tmp_path):
    ledger = in_ledger
    """A real web server whose connections log in as zentra_app: posting,
    reversal (locks the entry FOR UPDATE), policy revision (locks the current
    version), and tenant provisioning (the owner's zentra_schema_provision)."""
    env = subprocess_env()
    db = connection.settings_dict
    env["DATABASE_URL"] = f"postgres://{APP}:{PASSWORD}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["ZENTRA_DB_OWNER_ROLE"] = OWNER
    port = _free_port()
    log = tmp_path / "web.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "zentra_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                assert web.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.3)
        host, key = ledger.domain.domain, ledger.api_key.plaintext
        for code, side, kind in (("r_cash", "debit", "asset"), ("r_wallet", "credit", "liability")):
            assert _call(port, host, key, "POST", "/v1/accounts", {"code": code, "name": code, "currency": "USD",
                                                                   "normal_side": side, "kind": kind})[0] == 201
        status, entry = _call(port, host, key, "POST", "/v1/ledger-entries", {
            "debit": "r_cash", "credit": "r_wallet", "amount_minor": 700, "currency": "USD", "idempotency_key": "role-1"})
        assert status == 201, entry
        assert _call(port, host, key, "POST", "/v1/ledger-entries", {
            "debit": "r_cash", "credit": "r_wallet", "amount_minor": 700, "currency": "USD",
            "idempotency_key": "role-1"})[1]["posting_id"] == entry["posting_id"]
        # The same accounts again: the one-statement posting (ledger/posting/post.py), as the app role.
        status, second = _call(port, host, key, "POST", "/v1/ledger-entries", {
            "debit": "r_cash", "credit": "r_wallet", "amount_minor": 300, "currency": "USD", "idempotency_key": "role-2"})
        assert status == 201 and [b["posted"] for b in second["balances"]] == [1000, 1000], second
        status, rev = _call(port, host, key, "POST", f"/v1/ledger-entries/{entry['id']}/reverse",
                            {"idempotency_key": "role-rev"})
        assert status == 201 and rev["kind"] == "reversal", rev
        status, pol = _call(port, host, key, "POST", "/v1/policies/cap/versions", {"params": {"max_amount_minor": 5}})
        assert status == 201 and pol["version"] == 2, pol
        # The revision moved the policy epoch (its trigger wrote as the app role); a posting after it
        # finds the cached policies stale and is decided afresh.
        status, third = _call(port, host, key, "POST", "/v1/ledger-entries", {
            "debit": "r_cash", "credit": "r_wallet", "amount_minor": 1, "currency": "USD", "idempotency_key": "role-3"})
        assert status == 201, third
        status, body = _call(port, host, key, "GET", "/v1/audit/verify")
        assert status == 200 and body["ok"], body
        assert "permission denied" not in log.read_text()
        # Provisioning as the app role: the new schema belongs to the owner.
        slug = f"r{uuid.uuid4().hex[:8]}"
        out = subprocess.run([sys.executable, "manage.py", "tenant_create", slug, "--domain", f"{slug}.localhost",
                              "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        with connection.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [f"t_{slug}"])
            assert cur.fetchone()[0] == OWNER
            cur.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'DELETE')",
                        [APP, f"t_{slug}.ledger_ledgerline"] * 2)
            assert cur.fetchone() == (True, False)
        # This tenant only: other tests' tenants were corrupted on purpose.
        for checked in (ledger.tenant.slug, slug):
            check = subprocess.run([sys.executable, "manage.py", "ledger_check", "--json", "--tenant", checked],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    finally:
        web.terminate()
        web.wait(timeout=30)


def _app_connection():
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"], user=APP,
                           password=PASSWORD, autocommit=True)


def test_app_role_cannot_become_the_owner(in_ledger):
    """Logged in as zentra_app: no SET ROLE to the owner, no DDL, no access
    to the owner's provisioning script; the provisioning function makes a
    schema from that script and nothing else."""
    import psycopg

    schema = in_ledger.tenant.schema_name
    with _app_connection() as app:
        for statement in (f"SET ROLE {OWNER}", f"ALTER TABLE {schema}.ledger_ledgerline DISABLE TRIGGER ALL",
                          f"DROP TRIGGER ledgerline_apply ON {schema}.ledger_ledgerline",
                          "SELECT script FROM public.zentra_template_script",
                          "UPDATE public.zentra_template_script SET script = 'DROP SCHEMA public CASCADE'",
                          "CREATE SCHEMA t_by_hand"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
        for name in ("public", "pg_toast_x", "T_Upper", "t_x; DROP SCHEMA public", ""):
            with pytest.raises(psycopg.errors.InvalidSchemaName):
                app.execute("SELECT public.zentra_schema_provision(%s, 'zentra_template')", [name])
        # A schema the app makes through the function is the template's copy, owned by the owner.
        target = f"t_fn_{uuid.uuid4().hex[:8]}"
        app.execute("SELECT public.zentra_schema_provision(%s, 'zentra_template')", [target])
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", [target])
        assert cur.fetchone()[0] == OWNER
        cur.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'UPDATE'),"
                    " has_column_privilege(%s, %s, 'id', 'UPDATE')",
                    [APP, f"{target}.ledger_ledgerline"] * 2 + [APP, f"{target}.ledger_ledgerentry"])
        assert cur.fetchone() == (True, False, True)
        cur.execute(f'DROP SCHEMA "{target}" CASCADE')


def test_db_roles_takes_back_what_would_let_the_app_act_as_owner(in_ledger):
    """An earlier version made the app a member of the owner role; a grant on
    the script table would let the app write DDL the owner then runs. db_roles
    undoes both, and the function refuses to run a script others could write."""
    import psycopg

    from tenants.services.db_roles import db_roles_ensure

    with connection.cursor() as cur:
        cur.execute(f"GRANT {OWNER} TO {APP}")
        cur.execute(f"GRANT INSERT, UPDATE ON public.zentra_template_script TO {APP}")
    with _app_connection() as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="writable by a role other than its owner"):
            app.execute("SELECT public.zentra_schema_provision('t_never', 'zentra_template')")
    db_roles_ensure(owner=OWNER, app=APP, only_schemas=_role_schemas(in_ledger.tenant))
    with connection.cursor() as cur:
        cur.execute("SELECT pg_has_role(%s, %s, 'MEMBER'), has_table_privilege(%s, 'public.zentra_template_script',"
                    " 'SELECT, INSERT, UPDATE, DELETE')", [APP, OWNER, APP])
        assert cur.fetchone() == (False, False)
    with _app_connection() as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(f"SET ROLE {OWNER}")
