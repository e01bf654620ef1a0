"""The console's small audit CSV (the audit app's export with manifest and
chain head is the richer one). Streams rows, so memory stays flat however
many events match."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent

COLUMNS = ["id", "occurred_at", "actor_kind", "actor_ref", "action", "target_type", "target_id",
           "correlation_id", "ip", "before", "after", "policy_context", "metadata"]
# A spreadsheet runs a cell starting with one of these as a formula (CSV
# injection, OWASP); prefixing a quote makes it inert text.
# Fullwidth ＝＋－＠ too: spreadsheets with East Asian input normalise them
# to the ASCII operators and evaluate the cell.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> Any:
    """Numbers stay numbers (so amounts sum in a spreadsheet); text that a
    spreadsheet would evaluate is defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_LEADS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv_stream(qs: QuerySet[AuditEvent], *, chunk: int = 500) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for ev in qs.order_by("id").iterator(chunk_size=chunk):
        yield writer.writerow([csv_cell(getattr(ev, c)) for c in COLUMNS])
