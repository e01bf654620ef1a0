"""A lean cursor for the few statements on the posting hot path.

Django's cursor binds parameters client-side and wraps every execute in
Python bookkeeping; the posting path runs four statements per entry, so that
overhead was most of its CPU. `hot_execute()` runs a statement on a plain
psycopg cursor with server-side binding on the same connection and
transaction: psycopg prepares a statement after a few runs, so PostgreSQL
parses and plans it once per connection. PostgreSQL re-parses a prepared
statement when search_path changes, so one statement text serves every
tenant schema safely.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Mapping, Sequence

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.types.json import Jsonb

__all__ = ["Jsonb", "hot_execute", "json_compact", "pg_array"]

# json.dumps(x, separators=...) builds a new encoder on every call; the hot
# path serializes several documents per posting.
json_compact = json.JSONEncoder(separators=(",", ":")).encode


def pg_array(values: Sequence[int | str]) -> str:
    """An array parameter as its PostgreSQL literal ('{1,2}', '{"a","b"}'),
    for the statement to cast (`%(ids)s::bigint[]`, `::text[]`). psycopg
    adapts a Python list element by element, about 7 us a list; the posting
    path sends several per posting. Strings are always quoted and escaped,
    so any text a client sent (an unknown account code, say) arrives as
    itself."""
    return "{" + ",".join(
        str(v) if type(v) is int else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
    ) + "}"


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%s")


@functools.lru_cache(maxsize=256)
def _native(sql: str) -> tuple[str, tuple[str, ...]] | None:
    """`sql` with its %(name)s placeholders as PostgreSQL's own $1, $2, ...
    and the names in that order; None if it has a positional %s. psycopg
    converts a statement's placeholders with a regex on every execute, and
    caches the result only for statements under 4 KB: the one-statement
    posting is longer, and the conversion cost it more CPU than the rest
    of its Python together."""
    names: dict[str, int] = {}

    def sub(m: re.Match) -> str:
        if m.group(0) == "%%":
            return "%"
        if m.group(1) is None:
            raise ValueError("positional placeholder")
        return f"${names.setdefault(m.group(1), len(names) + 1)}"

    try:
        return _PLACEHOLDER.sub(sub, sql), tuple(names)
    except ValueError:
        return None


def hot_execute(sql: str, params: Mapping[str, Any] | Sequence[Any] | None = None) -> psycopg.Cursor:
    """Execute on Django's connection and return the cursor with its result.
    Errors come out as Django's database exceptions (IntegrityError,
    OperationalError with the psycopg error as __cause__), exactly as from
    connection.cursor(), so retry and error mapping see no difference.
    Named parameters go as PostgreSQL's own numbered ones (_native)."""
    # django-tenants issues `SET search_path` lazily, when Django opens a
    # cursor, and (TENANT_LIMIT_SET_CALLS) remembers that it did until the
    # tenant changes; open (and close) one unless the path is already set.
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.` goes through a thread-local proxy
    if db.connection is None or not getattr(db, "search_path_set_schemas", None):
        db.ensure_search_path()
    native = _native(sql) if isinstance(params, Mapping) else None
    if native is not None:
        sql, names = native
        params = [params[n] for n in names]
        cur = psycopg.RawCursor(db.connection)
    else:
        cur = psycopg.Cursor(db.connection)
    with db.wrap_database_errors:
        cur.execute(sql, params)
    return cur
