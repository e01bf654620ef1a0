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
