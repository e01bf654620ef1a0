"""Closed books, as the posting path sees them.

An entry may not be dated inside a closed accounting period. Periods are
closeout's (one layer up); the ledger only needs the watermark (the end of
the books' closed part) in the same statement that locks the accounts, and
the rule for an entry dated before it (refuse it, or move it to the first
open period, with evidence). Closeout registers both when it loads
(CloseoutConfig.ready); without it nothing is closed. The database re-checks
under the period lock either way (closeout's trigger on entries).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, NamedTuple


class ClosedBooks(NamedTuple):
    """watermark_sql: an SQL scalar expression (timestamptz, NULL when nothing
    is closed) read inside the posting statements; watermark(): the same,
    read on its own; resolve(effective_at=, metadata=, idempotency_key=,
    watermark=): for an entry dated before the watermark, the
    (effective_at, metadata) to post with, or a typed error."""

    watermark_sql: str
    watermark: Callable[[], dt.datetime | None]
    resolve: Callable[..., tuple[dt.datetime, dict[str, Any] | None]]


_OPEN_BOOKS = ClosedBooks(
    watermark_sql="NULL::timestamptz", watermark=lambda: None,
    resolve=lambda *, effective_at, metadata, idempotency_key=None, watermark=None: (effective_at, metadata))
_rule = _OPEN_BOOKS
_listeners: list[Callable[[], None]] = []


def closed_books_register(rule: ClosedBooks) -> None:
    """Called once, from closeout's AppConfig.ready()."""
    global _rule
    _rule = rule
    for clear in _listeners:
        clear()


def closed_books() -> ClosedBooks:
    return _rule


def on_closed_books_register(clear: Callable[[], None]) -> Callable[[], None]:
    """For a cached statement that embeds watermark_sql: cleared on register."""
    _listeners.append(clear)
    return clear


def entry_date_resolve(*, effective_at: dt.datetime, metadata: dict[str, Any] | None,
                       watermark: dt.datetime | None, idempotency_key: str | None = None,
                       ) -> tuple[dt.datetime, dict[str, Any] | None]:
    """The (effective_at, metadata) an entry posts with, given the watermark
    its statement read: unchanged in open books, else the registered rule's."""
    if watermark is None or effective_at >= watermark:
        return effective_at, metadata
    return _rule.resolve(effective_at=effective_at, metadata=metadata, idempotency_key=idempotency_key,
                         watermark=watermark)
