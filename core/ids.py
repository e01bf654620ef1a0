"""Identifiers: integers from text, and the hex part of new public ids.

Integers from text (URL parts, query strings, headers): ASCII digits in
PostgreSQL bigint's range, or nothing.

`str.isdigit()` is not the test: it accepts '¹' or '٣', which int() then
refuses (ValueError, a 500), and digit strings past 2^63-1 that PostgreSQL
refuses (DataError, a 500)."""
from __future__ import annotations

import os
import re
import time

BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def int_from_text(raw: object, *, max_value: int = BIGINT_MAX) -> int | None:
    text = raw if isinstance(raw, str) else (str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else "")
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= max_value else None


def time_ordered_hex() -> str:
    """32 hex digits laid out as a UUIDv7 (RFC 9562): the Unix time in
    milliseconds, then 74 random bits. For ids that are written on every
    posting and indexed (posting, event, delivery, correlation ids).

    A uuid4 lands each insert on a random leaf page of its unique index:
    on a large table every insert touches a page not touched since the last
    checkpoint, which WAL logs whole (8 kB), and pulls a cold page into the
    buffer cache. Ids that grow with time insert at the index's right edge,
    as a sequence does. They say when they were made (so does the row's own
    timestamp); they are not secrets, and 74 random bits keep them unguessable."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    # version 7 in bits 76-79, variant 0b10 in bits 62-63
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"
