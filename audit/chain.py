"""The tamper-evident chain: what can be sealed, and how a seal is computed.

Any app makes its records part of the tenant's hash chain by registering them
(usually from its AppConfig.ready()):

    register_sealable("ledger_entry", LedgerEntry, entry_canonical,
                      queryset=lambda: LedgerEntry.objects.prefetch_related("lines__account"))

`canonical(obj)` returns the record's evidence as plain JSON-able data; it is
re-run on the record's *current* row by verify, so it must be a pure function
of what is stored (never of settings, the clock or other mutable rows).

content_hash = sha256(canonical_json({"record_type", "record_id", "content"}))
hash         = sha256(prev_hash + content_hash + str(seq))   (hex strings, ASCII)
The first link's prev_hash is GENESIS_HASH.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from django.db.models import Model, QuerySet

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Sealable:
    record_type: str
    model: type[Model]
    canonical: Callable[[Any], dict]
    time_field: str
    queryset: Callable[[], QuerySet]

    def records(self) -> QuerySet:
        return self.queryset()


_registry: dict[str, Sealable] = {}


def register_sealable(
    record_type: str, model: type[Model], canonical: Callable[[Any], dict], *,
    time_field: str | None = None, queryset: Callable[[], QuerySet] | None = None,
) -> Sealable:
    """Make `model`'s rows part of every tenant's chain as `record_type`.

    time_field: the record's own timestamp (sealing order is time, then id);
    defaults to `occurred_at` or `created_at`. queryset: how to load records
    for sealing and verifying (add prefetch_related for child rows such as
    ledger lines); defaults to the model's manager. The model's primary key
    must be an integer.
    """
    if not record_type or len(record_type) > 40:
        raise ValueError("record_type is 1-40 characters")
    if time_field is None:
        names = {f.name for f in model._meta.get_fields()}
        time_field = next((n for n in ("occurred_at", "created_at") if n in names), None)
        if time_field is None:
            raise ValueError(f"{model.__name__} has no occurred_at/created_at; pass time_field=")
    existing = _registry.get(record_type)
    if existing is not None and existing.model is not model:
        raise ValueError(f"record type {record_type!r} is already registered for {existing.model.__name__}")
    sealable = Sealable(
        record_type=record_type, model=model, canonical=canonical, time_field=time_field,
        queryset=queryset or (lambda: model._default_manager.all()),
    )
    _registry[record_type] = sealable
    return sealable


def sealables() -> list[Sealable]:
    return [_registry[k] for k in sorted(_registry)]


def sealable(record_type: str) -> Sealable | None:
    return _registry.get(record_type)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return canonical_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not canonical-JSON serializable")


def canonical_time(value: dt.datetime) -> str:
    """UTC, microseconds always present: one spelling per instant."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous in evidence")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(data: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u-escaped), no NaN."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_jsonable,
    ).encode("utf-8")


def content_hash(record_type: str, record_id: int, content: dict) -> str:
    # Type and id are inside the hash so a link cannot be re-pointed at
    # another record that happens to have identical content.
    doc = {"record_type": record_type, "record_id": int(record_id), "content": content}
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def link_hash(prev_hash: str, content_hash_hex: str, seq: int) -> str:
    return hashlib.sha256(f"{prev_hash}{content_hash_hex}{int(seq)}".encode("ascii")).hexdigest()


def record_content_hash(s: Sealable, obj: Any) -> str:
    return content_hash(s.record_type, obj.pk, s.canonical(obj))
