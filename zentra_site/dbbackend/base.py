"""django-tenants' PostgreSQL backend without two round trips per request.

- `SET search_path`: django-tenants forgets the path it sent whenever a
  tenant is set, and every API request sets one (public for the key lookup,
  then the key's tenant), so each request sent the same `SET search_path`
  again before its first query. This backend also remembers what the server
  holds, and sends the SET only when the path differs from that. The
  server's path is forgotten wherever django-tenants forgets its own (a new
  connection, a rollback or savepoint rollback, which undo a SET made in
  them, a SET that failed).
- Health checks (`CONN_HEALTH_CHECKS`): Django ran `SELECT 1` before each
  request's first query. When the server ends a session (a restart,
  `pg_terminate_backend`), it closes the socket, which then reads as ready
  (end of file or the termination message); an idle healthy session has
  nothing to read. The check looks at the socket instead of asking the
  server.
"""
from __future__ import annotations

import select

from django.conf import settings
from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.utils import get_limit_set_calls


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._server_search_path: list[str] | None = None
        super().__init__(*args, **kwargs)

    def _handle_search_path(self, cursor=None):
        if (not self._setting_search_path and self.schema_name and get_limit_set_calls()
                and self._server_search_path is not None
                and self._get_cursor_search_paths() == self._server_search_path):
            self.search_path_set_schemas = self._server_search_path
            return
        super()._handle_search_path(cursor)
        self._server_search_path = self.search_path_set_schemas

    def ensure_search_path(self) -> None:
        """The selected schema's search_path on the server, before a
        statement that does not go through a Django cursor (zentra_site/db.py).
        Only when the server does not have it already is a cursor opened
        (and with it the SET sent)."""
        if self.connection is not None and not self.connection.closed and not self._setting_search_path \
                and self._server_search_path is not None \
                and self._get_cursor_search_paths() == self._server_search_path:
            self.search_path_set_schemas = self._server_search_path
            return
        self.cursor().close()

    def _commit(self):
        # Not for the template: it is a plain schema on the coordinator, and
        # while it is being migrated its tables may not exist yet.
        if settings.CITUS and self.connection is not None and self.schema_name \
                and self.schema_name not in ("public", settings.TENANT_BASE_SCHEMA) and not self.get_autocommit():
            self._deferred_checks_routed()
        return super()._commit()

    def _deferred_checks_routed(self) -> None:
        """On Citus: the tenant's deferred constraint triggers fired now, on
        its worker, by a statement routed there through the tenant's one
        PolicyEpoch row (ledger/migrations/0015): a refusal is this
        statement's error, with its SQLSTATE, instead of Citus's XX000 at
        the worker's commit."""
        schema = self.ops.quote_name(self.schema_name)
        with self.wrap_database_errors, self.connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {schema}.ledger_policyepoch WHERE id = 1"
                        " AND public.zentra_constraints_check()")

    def close(self):
        self._server_search_path = None
        super().close()

    # After the rollback, not before: getting the cursor for it can send a
    # SET (remembered here) that the rollback then undoes.
    def rollback(self):
        try:
            super().rollback()
        finally:
            self._server_search_path = None

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._server_search_path = None

    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
