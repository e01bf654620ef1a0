"""Integers from text (URL parts, query strings, headers): ASCII digits in
PostgreSQL bigint's range, or nothing.

`str.isdigit()` is not the test: it accepts '¹' or '٣', which int() then
refuses (ValueError, a 500), and digit strings past 2^63-1 that PostgreSQL
refuses (DataError, a 500)."""
from __future__ import annotations

import re

BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def int_from_text(raw: object, *, max_value: int = BIGINT_MAX) -> int | None:
    text = raw if isinstance(raw, str) else (str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else "")
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= max_value else None
