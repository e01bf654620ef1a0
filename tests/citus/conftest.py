"""Tests that only mean something on a Citus cluster (make test-citus):
skipped on one node."""
import pytest
from django.conf import settings


def pytest_collection_modifyitems(config, items):
    if settings.CITUS:
        return
    skip = pytest.mark.skip(reason="needs a Citus cluster (make test-citus)")
    for item in items:
        if "tests/citus/" in str(item.fspath):
            item.add_marker(skip)


def tenant_node(schema: str) -> tuple[str, int]:
    """The worker holding a distributed tenant schema's tables."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT s.nodename, s.nodeport FROM citus_shards s JOIN pg_class c ON c.oid = s.table_name"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s", [schema])
        rows = cur.fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def workers() -> list[tuple[str, int]]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT node_name, node_port FROM citus_get_active_worker_nodes() ORDER BY node_port")
        return cur.fetchall()
