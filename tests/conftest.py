"""Test harness: real PostgreSQL, real Redis, real Celery workers.

Every test runs with committed transactions (no per-test rollback): the
posting boundary, row locks and concurrency can only be tested that way.
Isolation comes from tenants instead: each test that needs data makes its own
tenant (a schema clone, ~0.2 s; `_db_access` says what keeps it there), so
tests never see each other's rows.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from core.actors import Actor

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """Create the test database for every run.

    pytest-django only creates it for tests marked `django_db`; this suite
    marks none (it commits for real), so without this override the tests
    would silently run against the development database named in DATABASE_URL.
    """
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    # On Citus the database is made beforehand on every node, with the
    # extension and the workers registered (scripts/test_citus.sh): kept, not
    # created or dropped here.
    keep = settings.CITUS
    with django_db_blocker.unblock():
        cfg = setup_databases(verbosity=0, interactive=False, aliases={"default"}, keepdb=keep)
    yield
    if keep:
        return
    with django_db_blocker.unblock():
        try:
            teardown_databases(cfg, verbosity=0)
        except Exception:  # noqa: BLE001 - a lingering child connection must not fail the run
            pass


@pytest.fixture(autouse=True)
def _db_access(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()
        # Every test starts on a new server backend (~6 ms to connect). A
        # backend keeps the plans of every PL/pgSQL trigger it has fired, per
        # tenant table, for its whole life; a tenant clone's DDL makes it walk
        # all of them for each invalidation it sends itself. On one connection
        # kept for the whole run, creating a tenant went from 0.2 s to 5-10 s
        # by the 400th test's tenant, while on a fresh backend it stays at
        # 0.2 s with 600 tenant schemas in the catalogs (docs/operations.md,
        # "Test suite").
        connection.close()


@pytest.fixture
def tenant_factory():
    from tenants.services.tenants import tenant_create

    def make(slug: str | None = None, **kwargs):
        slug = slug or f"t{uuid.uuid4().hex[:10]}"
        return tenant_create(actor=Actor.system("tests"), slug=slug, domain=f"{slug}.localhost", with_api_key=True, **kwargs)

    return make


@pytest.fixture
def tenant_a(tenant_factory):
    return tenant_factory()


@pytest.fixture
def tenant_b(tenant_factory):
    return tenant_factory()


@pytest.fixture
def api_client():
    """`api_client(key)` → a DRF client that sends `Authorization: Bearer key`."""
    from rest_framework.test import APIClient

    def make(key: str | None = None) -> APIClient:
        # CSRF enforced as for a real HTTP client: a non-DRF view under /v1/
        # must not answer an API client with Django's HTML 403.
        client = APIClient(enforce_csrf_checks=True)
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def api(tenant_a, api_client):
    return api_client(tenant_a.api_key.plaintext)


def die_with_parent() -> None:
    """preexec_fn for child servers and workers: the kernel kills them when
    the test process dies, even by SIGKILL, so none is left holding the test
    database open."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def subprocess_env() -> dict[str, str]:
    """Environment for child processes (workers, servers) that must talk to
    the test database and the test Redis."""
    from django.conf import settings

    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    env["ZENTRA_TEST_REDIS_URL"] = settings.REDIS_URL
    env["DJANGO_SETTINGS_MODULE"] = "zentra_site.settings.test"
    env["ZENTRA_LOG_JSON"] = "0"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def celery_worker_proc(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real `celery worker` process on the test database and test Redis."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with django_db_blocker.unblock():
        env = subprocess_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "zentra_site", "worker", "-l", "INFO", "-c", "2",
         "-P", "prefork", "--without-gossip", "--without-mingle", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
    )
    from zentra_site.celery import app

    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log.read_text()}")
        try:
            if app.control.inspect(timeout=1).ping():
                break
        except Exception:  # noqa: BLE001 - broker may still be coming up
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"celery worker did not start:\n{log.read_text()}")
    proc.log_path = log  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
