"""Statement formats: bytes in, normalized lines out, or an error naming the
line and the column.

The same parser runs twice over a file: at upload (a streaming pass that
validates everything, so a bad file is a synchronous 4xx and nothing is
stored) and in the worker (which feeds the lines to COPY). Memory stays flat:
input is read in chunks and lines are yielded one at a time.

Formats (docs/reconciliation.md has an example of each):
- generic_csv: reference, amount_minor, currency, booked_at, description.
  Amounts are integers in minor units, signed (positive = the account's
  balance went up in its normal-side terms).
- stripe_balance_csv: Stripe's itemized balance-transactions export, either
  the Dashboard column names (id, Type, Source, Amount, Fee, Net, Currency,
  Created (UTC), Available On (UTC), Description) or the Reports API's
  (balance_transaction_id, created_utc, available_on_utc, currency, gross,
  fee, net, reporting_category, source_id, description). Amounts are decimals
  in major units; the currency is lowercase. A line's reference is its
  source (the charge, refund, payout ... id), else its balance transaction id.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from reconciliation import errors
from core import errors as core_errors
from ledger.currencies import exponent, is_known

from .models import AmountBasis, StatementFormat

READ_BYTES = 256 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_MINOR = 2**63 - 1
MAX_REFERENCE = 255
MAX_DESCRIPTION = 1000

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


class StatementLine(NamedTuple):  # a tuple: a frozen dataclass costs a second per 100k lines
    line_no: int  # physical line of the file (the header is line 1)
    reference: str
    amount_minor: int  # signed
    currency: str
    booked_at: dt.datetime
    description: str
    details: dict[str, Any] | None = None


@dataclass
class ScanResult:
    sha256: str = ""
    size: int = 0
    lines: int = 0
    first_booked_at: dt.datetime | None = None
    last_booked_at: dt.datetime | None = None
    currencies: set[str] = field(default_factory=set)


# --- bytes -> text lines -------------------------------------------------------
def _text_lines(chunks: Iterable[bytes], digest: "hashlib._Hash | None", size: list[int]) -> Iterator[str]:
    """Physical lines (with their newline) of UTF-8 text, from arbitrary
    chunks. Decodes a block of whole lines at a time; only a bad block is
    walked again to name the line of the first invalid byte."""
    done = 0  # lines yielded so far
    rest = b""
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        if digest is not None:
            digest.update(chunk)
        size[0] += len(chunk)
        if first:
            first = False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]  # spreadsheet exports start with a BOM
        buf = rest + chunk if rest else chunk
        cut = buf.rfind(b"\n") + 1
        block, rest = buf[:cut], buf[cut:]
        if len(rest) > MAX_LINE_BYTES:
            n = done + block.count(b"\n") + 1
            raise errors.StatementInvalid(f"Line {n} is longer than {MAX_LINE_BYTES} bytes.", line=n)
        if block:
            lines = _decode(block, done).split("\n")
            lines.pop()  # the block ends with a newline: the last piece is empty
            if max(map(len, lines)) > MAX_LINE_BYTES:
                n = done + 1 + next(i for i, ln in enumerate(lines) if len(ln) > MAX_LINE_BYTES)
                raise errors.StatementInvalid(f"Line {n} is longer than {MAX_LINE_BYTES} bytes.", line=n)
            done += len(lines)
            for ln in lines:
                yield ln + "\n"
    if rest:
        yield _decode(rest, done)


def _decode(block: bytes, before: int) -> str:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        n = before + block.count(b"\n", 0, exc.start) + 1
        col = exc.start - (block.rfind(b"\n", 0, exc.start) + 1) + 1
        raise errors.StatementNotUtf8(
            f"Line {n} is not UTF-8: byte 0x{block[exc.start]:02x} at byte {col} of the line. "
            "Export the statement as UTF-8 CSV.", line=n, byte=col,
        ) from None
    if "\x00" in text:  # valid UTF-8, but PostgreSQL text cannot hold it
        n = before + text.count("\n", 0, text.index("\x00")) + 1
        raise errors.StatementInvalid(f"Line {n} contains a NUL character.", line=n)
    return text


def chunks_of(fileobj, size: int = READ_BYTES) -> Iterator[bytes]:
    while True:
        chunk = fileobj.read(size)
        if not chunk:
            return
        yield chunk


# --- cells -------------------------------------------------------------------
def _cell_error(cls, line: int, column: str, detail: str) -> errors.StatementInvalid:
    return cls(f"Line {line}, column '{column}': {detail}", line=line, column=column)


def _currency(raw: str, line: int, column: str) -> str:
    code = raw.strip().upper()
    if not is_known(code):
        raise _cell_error(errors.StatementCurrencyUnknown, line, column, f"'{raw}' is not a known ISO 4217 currency.")
    return code


def _int_minor(raw: str, line: int, column: str) -> int:
    text = raw.strip()
    if not _INT_RE.match(text):
        raise _cell_error(errors.StatementAmountInvalid, line, column,
                          f"'{raw}' is not an integer amount in minor units.")
    value = int(text)
    if abs(value) > MAX_MINOR:
        raise _cell_error(errors.StatementAmountInvalid, line, column, f"'{raw}' is outside -(2^63-1)..2^63-1.")
    return value


def decimal_to_minor(raw: str, currency: str, *, line: int, column: str) -> int:
    """'12.34' USD -> 1234, exactly. More fractional digits than the
    currency has ('1.5' JPY, '1.2345' KWD, '1.000' USD) is an error, never a
    rounding: a statement that does not fit the currency is not trusted."""
    text = raw.strip()
    if not _DECIMAL_RE.match(text):
        raise _cell_error(errors.StatementAmountInvalid, line, column, f"'{raw}' is not a decimal amount.")
    exp = exponent(currency)
    value = Decimal(text)
    fraction_digits = -value.as_tuple().exponent if value.as_tuple().exponent < 0 else 0
    if fraction_digits > exp:
        raise _cell_error(errors.StatementAmountInvalid, line, column,
                          f"'{raw}' has {fraction_digits} decimal places; {currency} has {exp}.")
    try:
        minor = value.scaleb(exp)
    except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
        raise _cell_error(errors.StatementAmountInvalid, line, column, f"'{raw}' is not a decimal amount.") from None
    if minor != minor.to_integral_value() or abs(minor) > MAX_MINOR:
        raise _cell_error(errors.StatementAmountInvalid, line, column, f"'{raw}' is out of range.")
    return int(minor)


def _datetime(raw: str, line: int, column: str) -> dt.datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            d = dt.date.fromisoformat(text)
            value = dt.datetime(d.year, d.month, d.day)
        else:
            value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _cell_error(errors.StatementDateInvalid, line, column,
                          f"'{raw}' is not an ISO 8601 date or date-time (e.g. 2025-03-01 or 2025-03-01T12:30:00Z).") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)  # both formats are exported in UTC
    return value if value.tzinfo is dt.timezone.utc else value.astimezone(dt.timezone.utc)


def _text(raw: str, line: int, column: str, limit: int) -> str:
    if len(raw) > limit:
        raise _cell_error(errors.StatementInvalid, line, column, f"longer than {limit} characters.")
    return raw


# --- formats -------------------------------------------------------------------
GENERIC_COLUMNS = ("reference", "amount_minor", "currency", "booked_at", "description")

# Stripe column aliases: Dashboard export names and Reports API names.
STRIPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "balance_transaction_id"),
    "gross": ("amount", "gross"),
    "fee": ("fee",),
    "net": ("net",),
    "currency": ("currency",),
    "created": ("created (utc)", "created_utc", "created"),
}
STRIPE_OPTIONAL: dict[str, tuple[str, ...]] = {
    "type": ("type",),
    "source": ("source", "source_id"),
    "available_on": ("available on (utc)", "available_on_utc", "available_on"),
    "description": ("description",),
    "reporting_category": ("reporting_category",),
}


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().split())


def _generic_header(header: list[str]) -> Callable[[list[str], int], StatementLine]:
    names = [_norm(h) for h in header]
    missing = [c for c in GENERIC_COLUMNS if c not in names]
    unknown = [h for h, n in zip(header, names) if n not in GENERIC_COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(unknown)}")
        if repeated:
            parts.append(f"repeated {', '.join(repeated)}")
        raise errors.StatementColumnsInvalid(
            f"Line 1: the generic_csv header must be {','.join(GENERIC_COLUMNS)} ({'; '.join(parts)}).",
            line=1, expected=list(GENERIC_COLUMNS), missing=missing, unknown=unknown,
        )
    at = {n: i for i, n in enumerate(names)}

    def parse(row: list[str], n: int) -> StatementLine:
        currency = _currency(row[at["currency"]], n, "currency")
        return StatementLine(
            line_no=n,
            reference=_text(row[at["reference"]].strip(), n, "reference", MAX_REFERENCE),
            amount_minor=_int_minor(row[at["amount_minor"]], n, "amount_minor"),
            currency=currency,
            booked_at=_datetime(row[at["booked_at"]], n, "booked_at"),
            description=_text(row[at["description"]], n, "description", MAX_DESCRIPTION),
        )

    return parse


def _stripe_header(header: list[str], amount_basis: str) -> Callable[[list[str], int], StatementLine]:
    names = [_norm(h) for h in header]

    def find(aliases: tuple[str, ...]) -> int | None:
        for alias in aliases:  # the first alias wins: created (utc) over created (local time)
            if alias in names:
                return names.index(alias)
        return None

    at = {key: find(aliases) for key, aliases in STRIPE_COLUMNS.items()}
    missing = [aliases[0] for key, aliases in STRIPE_COLUMNS.items() if at[key] is None]
    if missing:
        raise errors.StatementColumnsInvalid(
            f"Line 1: a Stripe balance-transactions export needs the columns {', '.join(missing)} "
            f"(found: {', '.join(header)}).", line=1, missing=missing,
        )
    opt = {key: find(aliases) for key, aliases in STRIPE_OPTIONAL.items()}
    col = {key: header[i] for key, i in {**at, **opt}.items() if i is not None}

    def parse(row: list[str], n: int) -> StatementLine:
        currency = _currency(row[at["currency"]], n, col["currency"])
        gross = decimal_to_minor(row[at["gross"]], currency, line=n, column=col["gross"])
        fee = decimal_to_minor(row[at["fee"]], currency, line=n, column=col["fee"])
        net = decimal_to_minor(row[at["net"]], currency, line=n, column=col["net"])
        if gross - fee != net:
            raise _cell_error(errors.StatementAmountInvalid, n, col["net"],
                              f"net {row[at['net']]} is not {col['gross']} {row[at['gross']]} minus fee {row[at['fee']]}.")
        txn = row[at["id"]].strip()
        if not txn:
            raise _cell_error(errors.StatementInvalid, n, col["id"], "every Stripe balance transaction has an id.")
        # Ledgers record the Stripe object a transaction is for (ch_, re_,
        # po_, dp_ ...) rather than the balance transaction's own txn_ id.
        source = row[opt["source"]].strip() if opt["source"] is not None else ""
        reference = source or txn
        details: dict[str, Any] = {"id": txn, "gross": gross, "fee": fee, "net": net}
        for key in ("type", "source", "reporting_category"):
            if opt[key] is not None and row[opt[key]]:
                details[key] = row[opt[key]]
        if opt["available_on"] is not None and row[opt["available_on"]].strip():
            details["available_on"] = _datetime(row[opt["available_on"]], n, col["available_on"]).isoformat()
        return StatementLine(
            line_no=n,
            reference=_text(reference, n, col["source"] if source else col["id"], MAX_REFERENCE),
            amount_minor=gross if amount_basis == AmountBasis.GROSS else net,
            currency=currency,
            booked_at=_datetime(row[at["created"]], n, col["created"]),
            description=_text(row[opt["description"]], n, col["description"], MAX_DESCRIPTION)
            if opt["description"] is not None else "",
            details=details,
        )

    return parse


def statement_lines(
    chunks: Iterable[bytes], *, format: str, amount_basis: str = AmountBasis.NET, scan: ScanResult | None = None,
) -> Iterator[StatementLine]:
    """Yield normalized lines; raise StatementInvalid (with line and column)
    at the first bad one. If `scan` is given it is filled in as a side effect
    (SHA-256 of every byte, size, counts, date range)."""
    digest = hashlib.sha256() if scan is not None else None
    size = [0]
    reader = csv.reader(_text_lines(chunks, digest, size), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)  # leading blank lines
        if header is None:
            raise errors.StatementEmpty("The statement is empty: no header and no lines.")
        if format == StatementFormat.GENERIC_CSV:
            parse = _generic_header(header)
        elif format == StatementFormat.STRIPE_BALANCE_CSV:
            parse = _stripe_header(header, amount_basis)
        else:  # pragma: no cover - the serializer only admits known formats
            raise core_errors.ValidationFailed(f"Unknown statement format '{format}'.", field="format")
        width = len(header)
        count = 0
        first = last = None
        currencies: set[str] = set()
        for row in reader:
            n = reader.line_num
            if not any(row):
                continue  # blank lines (a trailing newline, a spreadsheet's empty rows)
            if len(row) != width:
                raise errors.StatementColumnsInvalid(
                    f"Line {n} has {len(row)} fields; the header has {width}.", line=n, fields=len(row), expected=width)
            line = parse(row, n)
            count += 1
            if scan is not None:
                currencies.add(line.currency)
                booked = line.booked_at
                if first is None or booked < first:
                    first = booked
                if last is None or booked > last:
                    last = booked
            yield line
    except csv.Error as exc:
        n = reader.line_num
        raise errors.StatementInvalid(f"Line {n} is not valid CSV: {exc}.", line=n) from None
    if count == 0:
        raise errors.StatementEmpty("Line 1 is the header and no line follows it.", line=1)
    if scan is not None:
        scan.sha256, scan.size, scan.lines = digest.hexdigest(), size[0], count
        scan.first_booked_at, scan.last_booked_at, scan.currencies = first, last, currencies


def statement_scan(fileobj, *, format: str, amount_basis: str = AmountBasis.NET) -> ScanResult:
    """Validate a whole file in one streaming pass."""
    scan = ScanResult()
    for _ in statement_lines(chunks_of(fileobj), format=format, amount_basis=amount_basis, scan=scan):
        pass
    return scan
