"""TENANT_LIMIT_SET_CALLS sends `SET search_path` once per tenant switch; a
savepoint rollback undoes that SET inside PostgreSQL, so the backend must
forget it and set it again. django-tenants does; this guards that it keeps
doing so, since the setting is only safe with it."""
import pytest
from django.db import connection, transaction


class Boom(Exception):
    pass


def current_path() -> str:
    with connection.cursor() as cur:
        cur.execute("SHOW search_path")
        return cur.fetchone()[0]


def test_search_path_survives_a_rolled_back_savepoint(tenant_a):
    with transaction.atomic():
        connection.set_schema_to_public()
        current_path()  # the outer transaction runs with public
        with pytest.raises(Boom):
            with transaction.atomic():  # savepoint
                connection.set_tenant(tenant_a.tenant)  # its SET happens inside the savepoint
                assert tenant_a.tenant.schema_name in current_path()
                raise Boom
        # PostgreSQL restored public; the next query must switch again.
        assert tenant_a.tenant.schema_name in current_path()
    connection.set_schema_to_public()


def _search_path_sets(queries) -> int:
    return sum(q["sql"].startswith("SET search_path") for q in queries)


def test_a_path_the_server_already_has_is_not_sent_again(tenant_a, tenant_b):
    """An API request sets public (the key lookup), then the key's tenant:
    with the server already on that tenant's path, no SET goes out."""
    from django.test.utils import CaptureQueriesContext

    connection.set_tenant(tenant_a.tenant)
    assert tenant_a.tenant.schema_name in current_path()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            connection.set_schema_to_public()
            connection.set_tenant(tenant_a.tenant)
            assert current_path().startswith(tenant_a.tenant.schema_name)
    assert _search_path_sets(ctx.captured_queries) == 0
    with CaptureQueriesContext(connection) as ctx:
        connection.set_tenant(tenant_b.tenant)
        assert current_path().startswith(tenant_b.tenant.schema_name)
        connection.set_schema_to_public()
        assert current_path() == "public"
        connection.set_tenant(tenant_a.tenant)
        assert current_path().startswith(tenant_a.tenant.schema_name)
    assert _search_path_sets(ctx.captured_queries) == 3
    connection.set_schema_to_public()


def test_a_path_set_in_a_rolled_back_transaction_is_set_again(tenant_a):
    connection.set_schema_to_public()
    assert current_path() == "public"
    with pytest.raises(Boom), transaction.atomic():
        connection.set_tenant(tenant_a.tenant)
        assert current_path().startswith(tenant_a.tenant.schema_name)
        raise Boom
    # PostgreSQL went back to public with the rollback; the backend must not
    # believe the server still has the tenant's path.
    assert current_path().startswith(tenant_a.tenant.schema_name)
    connection.set_schema_to_public()


def test_health_check_sees_a_terminated_session_without_a_query():
    """CONN_HEALTH_CHECKS asks is_usable(), which looks at the socket: a
    session the server ended is unusable, a live idle one is usable."""
    import time

    import psycopg

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    assert connection.is_usable()
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    for _ in range(100):  # the server's goodbye reaches the socket a moment later
        if not connection.is_usable():
            break
        time.sleep(0.02)
    assert not connection.is_usable()
    connection.health_check_done = False  # a new request (request_started resets it)
    connection.close_if_health_check_failed()  # what Django runs before the request's first query
    assert connection.connection is None
    with connection.cursor() as cur:  # and the next query gets a new session
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_an_api_request_after_its_session_was_ended_gets_a_new_one(api):
    """The key lookup is an API request's first query and runs on psycopg
    directly, so it runs the request's health check itself: after the
    server ended the worker's session (a restart, pg_terminate_backend) the
    next request is answered, not a 500."""
    import time

    import psycopg

    assert api.get("/v1/accounts").status_code == 200
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    for _ in range(100):
        if not connection.is_usable():
            break
        time.sleep(0.02)
    connection.health_check_done = False  # a new request (the test client does not send request_started)
    r = api.get("/v1/accounts")
    assert r.status_code == 200, r.content
