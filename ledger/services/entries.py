"""The posting services' import path: the posting itself lives in
ledger.posting (read ledger/posting/post.py top to bottom)."""
from __future__ import annotations

from ledger.posting.post import account_codes, entry_post, entry_write, rejection_record
from ledger.posting.rules import (
    MAX_LINES,
    MAX_MINOR,
    LineSpec,
    accounts_check,
    lines_validate,
    signed,
)

__all__ = [
    "MAX_LINES", "MAX_MINOR", "LineSpec", "account_codes", "accounts_check", "entry_post", "entry_write",
    "lines_validate", "rejection_record", "signed",
]
