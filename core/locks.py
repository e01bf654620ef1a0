"""Every advisory lock Zentra takes, and the one order they are taken in.

Row locks (accounts in primary-key order, a hold or an entry before its
accounts) are the ledger's (ledger/locks.py); the advisory locks are here, so
that their keys cannot collide and their order is written down once.

The order, outermost first. A transaction takes locks only in this order,
so no two transactions can wait for each other in a circle:

1. ``TEMPLATE`` — session lock on the database, around a rebuild of the
   tenant template schema. Provisioning only, never inside a tenant's
   transaction.
2. A request's key — the posting boundary's idempotency key
   (``key_lock_sql``: every claim, the one-statement posting, a batch in key
   order), or a console form's key (``FORM_KEY``). Waited for at most
   ``IN_FLIGHT_WAIT``; then the request is 409 ``idempotency_key_in_use``.
3. Reconciliation — one statement file's import (``RECON_IMPORT``), one
   run's matching (``RECON_RUN``, tried, never waited for).
4. Row locks (ledger/locks.py): the subject rows (a hold, an entry being
   reversed), then accounts in primary-key order; an accounting period's row
   before its transition.
5. ``PERIOD`` — per tenant. Taken SHARED by the entry trigger when an entry
   is inserted (after its accounts are locked), EXCLUSIVE by a period's
   open -> closing transition: the transition waits for every posting
   in flight, and later postings read the new watermark.
6. ``CHAIN`` — per tenant, by the chain sealer alone (tried by the beat
   task, waited for by an explicit seal), holding nothing else.
"""
from __future__ import annotations

from typing import NamedTuple

from django.db import connection

# How long a duplicate request waits for its in-flight original.
IN_FLIGHT_WAIT = "15s"


class AdvisoryLock(NamedTuple):
    name: str
    klass: int  # four ASCII letters: keeps the key spaces apart


TEMPLATE = AdvisoryLock("template", 0x5A454E54)  # "ZENT"
FORM_KEY = AdvisoryLock("form-key", 0x5A464B59)  # "ZFKY"
RECON_IMPORT = AdvisoryLock("recon-import", 0x5A524349)  # "ZRCI"
RECON_RUN = AdvisoryLock("recon-run", 0x5A524352)  # "ZRCR"
PERIOD = AdvisoryLock("period", 0x5A504552)  # "ZPER"; the entry trigger names the same class
CHAIN = AdvisoryLock("chain", 0x5A434841)  # "ZCHA"


def tenant_lock(lock: AdvisoryLock, *, wait: bool = True) -> bool:
    """The tenant's own instance of `lock`, for the transaction: (class,
    hashtext(schema)), the pair the database's triggers use too. Returns
    False when `wait` is off and another transaction holds it."""
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cur:
        cur.execute(f"SELECT {fn}(%s, hashtext(%s))", [lock.klass, connection.schema_name])
        row = cur.fetchone()
    return True if wait else bool(row[0])


def tenant_key_lock(lock: AdvisoryLock, key: str, *, wait: bool = True, timeout: str | None = None) -> bool:
    """`lock` for one key in this tenant, for the transaction. `timeout`: how
    long to wait (a lock_timeout; SQLSTATE 55P03 past it)."""
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cur:
        if timeout:
            cur.execute(f"SET LOCAL lock_timeout = '{timeout}'")
        cur.execute(f"SELECT {fn}(hashtext(%s))", [f"{lock.name}:{connection.schema_name}:{key}"])
        row = cur.fetchone()
    return True if wait else bool(row[0])


def key_lock_sql(key: str) -> str:
    """The posting boundary's lock on an idempotency key, as SQL over `key`
    (an expression or a parameter), for the statements that fold it in."""
    return f"pg_advisory_xact_lock({key_lock_id_sql(key)})"


def key_lock_id_sql(key: str) -> str:
    """The lock id of an idempotency key (SQL over `key`): also the order in
    which a batch takes its keys' locks."""
    return f"hashtextextended(current_schema() || '/' || {key}, 0)"


def session_lock(lock: AdvisoryLock) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", [lock.klass])


def session_unlock(lock: AdvisoryLock) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", [lock.klass])
