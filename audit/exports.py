"""Export kinds and the CSV writer they share.

An app adds an export kind by registering it (usually in AppConfig.ready()):

    register_export_kind(ExportKind(
        name="ledger_lines", columns=("line_id", "posting_id", ...),
        filters=LedgerLineFilters,                    # an audit.filters.FilterSerializer
        queryset=lambda f: ledger_lines_filter(**f),  # validated filters -> rows
        row=lambda line: (line.id, line.entry.posting_id, ...),
        record_type="ledger_entry", record_field="entry_id", scope="ledger:read",
    ))

Rows are pinned to the chain: an export contains exactly the rows whose
sealed record (`record_type`, id at `record_field`) has a link at or before
the chain head taken when the export was created. So every download of one
export is byte-identical and its manifest's SHA-256 stays true.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from django.db.models import QuerySet

from audit.chain import canonical_json, canonical_time
from audit.filters import FilterSerializer
from audit import errors


@dataclass(frozen=True)
class ExportKind:
    name: str
    columns: tuple[str, ...]
    filters: type[FilterSerializer]
    queryset: Callable[[dict], QuerySet]
    row: Callable[[Any], Sequence[Any]]
    # The sealed record that pins each row (None: a kind whose rows change
    # state, such as holds; pinned by id, see audit.selectors.export_rows).
    record_type: str | None
    record_field: str = "pk"
    scope: str = "audit:read"
    chunk_size: int = 2000


_kinds: dict[str, ExportKind] = {}


def register_export_kind(kind: ExportKind) -> ExportKind:
    if not kind.name or len(kind.name) > 40:
        raise ValueError("export kind names are 1-40 characters")
    _kinds[kind.name] = kind
    return kind


def export_kind_get(name: str) -> ExportKind:
    kind = _kinds.get(name)
    if kind is None:
        raise errors.UnknownExportKind(
            f"There is no export kind '{name}'.", field="kind", allowed=sorted(_kinds),
        )
    return kind


def export_kind_names() -> list[str]:
    return sorted(_kinds)


# Spreadsheets run a text cell starting with one of these as a formula
# (OWASP "CSV injection"); a leading apostrophe makes it inert text.
# Fullwidth ＝＋－＠ too: spreadsheets with East Asian input normalise them
# to the ASCII operators and evaluate the cell.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_LEADS = frozenset(FORMULA_LEADS)


def csv_cell(value: Any) -> str | int:
    if value.__class__ is str:  # the common case first: this runs for every cell
        return "'" + value if value and value[0] in _LEADS else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value  # amounts stay numbers, negative ones too: never prefixed
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return canonical_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        text = canonical_json(value).decode("utf-8")
    else:
        text = str(value)
    return "'" + text if text and text[0] in _LEADS else text


class CsvDigest(Iterable[bytes]):
    """RFC 4180 CSV (CRLF, UTF-8, header row) yielded in ~64 KiB chunks, with
    the SHA-256, byte and row counts of exactly the bytes yielded. Memory
    stays flat: rows come from a server-side cursor and leave as bytes."""

    FLUSH_AT = 64 * 1024

    def __init__(self, columns: Sequence[str], rows: Iterable[Any], row: Callable[[Any], Sequence[Any]]):
        self.columns = columns
        self.rows = rows
        self.row = row
        self.sha = hashlib.sha256()
        self.row_count = 0
        self.byte_count = 0
        self.finished = False

    def _take(self, buf: io.StringIO) -> bytes:
        data = buf.getvalue().encode("utf-8")
        buf.seek(0)
        buf.truncate(0)
        self.sha.update(data)
        self.byte_count += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(self.columns)
        row, cell = self.row, csv_cell
        for item in self.rows:
            writer.writerow([cell(v) for v in row(item)])
            self.row_count += 1
            if buf.tell() >= self.FLUSH_AT:
                yield self._take(buf)
        if buf.tell():
            yield self._take(buf)
        self.finished = True

    @property
    def sha256(self) -> str:
        return self.sha.hexdigest()
