"""Sealing records into the tenant's hash chain, and verifying it.

Why a sealer instead of linking inside each posting: a chain link needs the
previous link's hash, so linking on the write path would make every posting
of a tenant queue on one lock. Records are written freely; chain_seal appends
links for whatever committed since, a few seconds later (Celery beat) and
synchronously before a verify or an export.
"""
from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from itertools import islice
from typing import Any, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from core.actors import Actor
from core.locks import CHAIN, tenant_lock
from audit.chain import GENESIS_HASH, Sealable, link_hash, record_content_hash, sealables
from audit.models import ChainLink
from audit.selectors import ChainReport, chain_check, chain_head, unsealed_records
from audit.services.audit import audit_record

# Links go in by COPY, a batch at a time: the records' server-side cursor
# cannot be read while a COPY holds the connection. The database checks each
# batch once (statement trigger), so bigger batches are cheaper.
COPY_BATCH = 5000
LINK_COLUMNS = ("seq", "record_type", "record_id", "record_at", "content_hash", "prev_hash", "hash", "sealed_at")


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head_seq: int | None
    head_hash: str | None
    skipped: str | None = None  # "disabled" | "busy"


def _lock(*, wait: bool) -> bool:
    return tenant_lock(CHAIN, wait=wait)


def _copy_links(rows: list[tuple]) -> None:
    table = f"{connection.ops.quote_name(connection.schema_name)}.{ChainLink._meta.db_table}"
    with connection.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(LINK_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _stream(s: Sealable, since: dt.datetime | None, chunk_size: int) -> Iterator[tuple[tuple, Any, Sealable]]:
    qs = unsealed_records(s)
    if since is not None:
        qs = qs.filter(**{f"{s.time_field}__gte": since})
    for obj in qs.order_by(s.time_field, "pk").iterator(chunk_size=chunk_size):
        yield (getattr(obj, s.time_field), s.record_type, obj.pk), obj, s


def chain_seal(
    *, limit: int | None = None, since: dt.datetime | None = None, wait: bool = True, chunk_size: int = 2000,
) -> SealResult:
    """Append a link for every record of every registered type that has none,
    oldest first (record time, then type, then id), in one transaction.

    limit: at most this many links (None: all). since: only records stamped
    at or after it (the periodic sealer looks back a window; a full pass, as
    before verify and export, passes None). wait: block on the tenant's chain
    lock (True) or return at once with skipped="busy" when another sealer
    holds it.
    """
    if connection.schema_name == get_public_schema_name():
        raise RuntimeError("chain_seal runs in a tenant schema")
    if not settings.CHAIN_ENABLED:
        head = chain_head()
        return SealResult(0, head.seq if head else None, head.hash if head else None, skipped="disabled")
    with transaction.atomic():
        if not _lock(wait=wait):
            return SealResult(0, None, None, skipped="busy")
        with connection.cursor() as cur:
            # The unsealed-records cursor is read to the end: plan it for total
            # time (hash anti-join) rather than PostgreSQL's cursor default of
            # fast first rows (an index probe per record, the whole table long).
            # JIT compilation costs more than it saves on this every-5-s query.
            cur.execute("SET LOCAL cursor_tuple_fraction = 1.0; SET LOCAL jit = off")
        # Read the head only under the lock: another sealer may just have
        # committed links (READ COMMITTED gives this statement a new snapshot).
        head = chain_head()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS_HASH)
        merged = heapq.merge(*(_stream(s, since, chunk_size) for s in sealables()), key=lambda item: item[0])
        now = timezone.now()
        batch: list[tuple] = []
        sealed = 0
        for (record_at, record_type, pk), obj, s in islice(merged, limit):
            seq += 1
            content = record_content_hash(s, obj)
            this = link_hash(prev, content, seq)
            batch.append((seq, record_type, pk, record_at, content, prev, this, now))
            prev = this
            sealed += 1
            if len(batch) >= COPY_BATCH:
                _copy_links(batch)
                batch = []
        if batch:
            _copy_links(batch)
    return SealResult(sealed, seq or None, prev if seq else None)


def chain_verify(*, seal: bool = True) -> ChainReport:
    """Seal what is pending (so "unsealed" means committed after this call),
    then recompute every link from the records' current rows."""
    sealed = chain_seal().sealed if seal else 0
    report = chain_check()
    report.sealed_now = sealed
    return report


def chain_verify_record(*, actor: Actor) -> ChainReport:
    """chain_verify for a person (the console's Verify button): the check
    runs in its own snapshot, then its result is audited, so who verified
    what, when, and what they were shown is itself evidence."""
    report = chain_verify()
    body = report.as_dict()
    with transaction.atomic():
        audit_record(
            actor=actor, action="audit.chain_verified", target_type="chain",
            target_id=body["head"]["seq"] if body["head"] else 0,
            metadata={"ok": body["ok"], "links_checked": body["links_checked"], "head": body["head"],
                      "first_broken": body["first_broken"], "unsealed_total": body["unsealed_total"]},
        )
    return report
