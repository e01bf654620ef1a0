"""The statement parsers, byte for byte (no database needed)."""
import io

import pytest

from reconciliation import errors
from reconciliation.formats import decimal_to_minor, statement_scan
from reconciliation.models import StatementFormat

GENERIC = StatementFormat.GENERIC_CSV
STRIPE = StatementFormat.STRIPE_BALANCE_CSV

STRIPE_DASHBOARD_HEADER = ("id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),"
                           "Description,Customer Facing Amount")


def lines(text: str | bytes, fmt=GENERIC, **kw):
    from reconciliation.formats import chunks_of, statement_lines

    raw = text.encode() if isinstance(text, str) else text
    return list(statement_lines(chunks_of(io.BytesIO(raw), 7), format=fmt, **kw))  # tiny chunks: boundaries


@pytest.mark.parametrize("raw,currency,minor", [
    ("1000", "JPY", 1000), ("-250", "JPY", -250),
    ("12.34", "USD", 1234), ("0.5", "USD", 50), ("-7.00", "USD", -700), ("10", "USD", 1000),
    ("1.234", "KWD", 1234), ("-0.001", "KWD", -1), ("3.1", "KWD", 3100),
])
def test_decimal_to_minor_is_exact(raw, currency, minor):
    assert decimal_to_minor(raw, currency, line=2, column="Amount") == minor


@pytest.mark.parametrize("raw,currency", [
    ("10.5", "JPY"), ("10.00", "JPY"), ("1.2345", "KWD"), ("0.001", "USD"), ("1e3", "USD"), ("1,000.00", "USD"),
    ("", "USD"), ("abc", "USD"), ("1.", "USD"), (".5", "USD"), ("NaN", "USD"), ("99999999999999999999", "USD"),
])
def test_decimal_to_minor_refuses_what_does_not_fit(raw, currency):
    with pytest.raises(errors.StatementAmountInvalid) as exc:
        decimal_to_minor(raw, currency, line=9, column="Net")
    assert exc.value.extra == {"line": 9, "column": "Net"}
    assert "Line 9, column 'Net'" in exc.value.detail


def test_generic_format_any_column_order_bom_crlf_quotes_and_blank_lines():
    text = ("\ufeffdescription,booked_at,currency,amount_minor,reference\r\n"
            '"Payout, March",2025-03-01T10:00:00Z,USD,-125000,po_1\r\n'
            "\r\n"
            'Charge "x",2025-03-02,usd,4200,ch_1\r\n')
    out = lines(text)
    assert [(ln.line_no, ln.reference, ln.amount_minor, ln.currency) for ln in out] == [
        (2, "po_1", -125000, "USD"), (4, "ch_1", 4200, "USD")]
    assert out[0].description == "Payout, March"
    assert out[1].booked_at.isoformat() == "2025-03-02T00:00:00+00:00"


def test_stripe_dashboard_layout_converts_by_currency_exponent():
    text = "\n".join([
        STRIPE_DASHBOARD_HEADER,
        "txn_1,charge,ch_1,100.00,3.20,96.80,usd,2025-03-01 10:00,2025-03-03 00:00,Order 1,100.00",
        "txn_2,charge,ch_2,1500,45,1455,jpy,2025-03-01 11:00:30,2025-03-03 00:00,Order 2,1500",
        "txn_3,payout,po_1,-12.345,0.000,-12.345,kwd,2025-03-02 09:00,2025-03-02 09:00,Payout,",
        "txn_4,refund,re_1,-5.5,0,-5.5,usd,2025-03-02T09:00:00Z,,Refund,",
    ])
    out = lines(text, STRIPE)
    assert [(ln.reference, ln.amount_minor, ln.currency) for ln in out] == [
        ("ch_1", 9680, "USD"), ("ch_2", 1455, "JPY"), ("po_1", -12345, "KWD"), ("re_1", -550, "USD")]
    assert out[0].details == {"id": "txn_1", "gross": 10000, "fee": 320, "net": 9680, "type": "charge",
                              "source": "ch_1", "available_on": "2025-03-03T00:00:00+00:00"}
    assert out[1].booked_at.isoformat() == "2025-03-01T11:00:30+00:00"
    gross = lines(text, STRIPE, amount_basis="gross")
    assert [ln.amount_minor for ln in gross] == [10000, 1500, -12345, -550]


def test_stripe_reports_api_layout_prefers_utc_columns():
    text = ("balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,"
            "reporting_category,source_id,description\n"
            "txn_9,2025-03-01 23:30:00,2025-03-02 08:30:00,2025-03-04 00:00:00,eur,20.00,0.60,19.40,charge,ch_9,x\n")
    [ln] = lines(text, STRIPE)
    assert (ln.reference, ln.amount_minor, ln.currency, ln.booked_at.isoformat()) == (
        "ch_9", 1940, "EUR", "2025-03-01T23:30:00+00:00")
    assert ln.details["reporting_category"] == "charge"


@pytest.mark.parametrize("text,fmt,code,line,column", [
    ("ref,amount,currency,date,desc\nx,1,USD,2025-03-01,\n", GENERIC, "statement_columns_invalid", 1, None),
    ("reference,amount_minor,currency,booked_at,description,extra\n", GENERIC, "statement_columns_invalid", 1, None),
    ("reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-01,\nb,12.5,USD,2025-03-01,\n",
     GENERIC, "statement_amount_invalid", 3, "amount_minor"),
    ("reference,amount_minor,currency,booked_at,description\na,ten,USD,2025-03-01,\n",
     GENERIC, "statement_amount_invalid", 2, "amount_minor"),
    ("reference,amount_minor,currency,booked_at,description\na,1,XYZ,2025-03-01,\n",
     GENERIC, "statement_currency_unknown", 2, "currency"),
    ("reference,amount_minor,currency,booked_at,description\na,1,USD,03/01/2025,\n",
     GENERIC, "statement_date_invalid", 2, "booked_at"),
    ("reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-01\n",
     GENERIC, "statement_columns_invalid", 2, None),
    ("reference,amount_minor,currency,booked_at,description\n", GENERIC, "statement_empty", 1, None),
    ("", GENERIC, "statement_empty", None, None),
    ("\n\n", GENERIC, "statement_empty", None, None),
    (STRIPE_DASHBOARD_HEADER + "\ntxn_1,charge,ch_1,100.5,0,100.5,jpy,2025-03-01 10:00,,x,\n",
     STRIPE, "statement_amount_invalid", 2, "Amount"),
    (STRIPE_DASHBOARD_HEADER + "\ntxn_1,charge,ch_1,1.2345,0,1.2345,kwd,2025-03-01 10:00,,x,\n",
     STRIPE, "statement_amount_invalid", 2, "Amount"),
    (STRIPE_DASHBOARD_HEADER + "\ntxn_1,charge,ch_1,10.00,1.00,9.50,usd,2025-03-01 10:00,,x,\n",
     STRIPE, "statement_amount_invalid", 2, "Net"),
    (STRIPE_DASHBOARD_HEADER + "\n,charge,ch_1,10.00,1.00,9.00,usd,2025-03-01 10:00,,x,\n",
     STRIPE, "statement_invalid", 2, "id"),
    ("id,Amount,Currency\ntxn_1,1.00,usd\n", STRIPE, "statement_columns_invalid", 1, None),
    (STRIPE_DASHBOARD_HEADER + "\ntxn_1,charge," + "c" * 256 + ",10.00,1.00,9.00,usd,2025-03-01 10:00,,x,\n",
     STRIPE, "statement_invalid", 2, "Source"),
    ('reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-01,"unterminated\n',
     GENERIC, "statement_invalid", 2, None),
])
def test_bad_statements_name_the_line_and_column(text, fmt, code, line, column):
    with pytest.raises(errors.StatementInvalid) as exc:
        statement_scan(io.BytesIO(text.encode()), format=fmt)
    assert exc.value.code == code
    assert exc.value.extra.get("line") == line
    assert exc.value.extra.get("column") == column


def test_stripe_reference_falls_back_to_the_transaction_id():
    text = STRIPE_DASHBOARD_HEADER + "\ntxn_7,adjustment,,-1.00,0,-1.00,usd,2025-03-01 10:00,,x,\n"
    [ln] = lines(text, STRIPE)
    assert ln.reference == "txn_7" and "source" not in ln.details


def test_non_utf8_names_the_line():
    raw = ("reference,amount_minor,currency,booked_at,description\n"
           "a,1,USD,2025-03-01,ok\n"
           "b,2,USD,2025-03-01,caf").encode() + b"\xe9\n"
    with pytest.raises(errors.StatementNotUtf8) as exc:
        statement_scan(io.BytesIO(raw), format=GENERIC)
    assert exc.value.extra["line"] == 3
    assert "0xe9" in exc.value.detail


def test_scan_hashes_every_byte_and_counts_lines():
    import hashlib

    raw = b"reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-02,\nb,-1,EUR,2025-03-01,\n"
    scan = statement_scan(io.BytesIO(raw), format=GENERIC)
    assert scan.sha256 == hashlib.sha256(raw).hexdigest()
    assert (scan.lines, scan.size, scan.currencies) == (2, len(raw), {"USD", "EUR"})
    assert scan.first_booked_at.day == 1 and scan.last_booked_at.day == 2


def test_an_overlong_line_is_refused_with_its_number():
    from reconciliation.formats import MAX_LINE_BYTES

    raw = ("reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-01,ok\n"
           f"b,1,USD,2025-03-01,{'x' * (MAX_LINE_BYTES + 1)}\n").encode()
    with pytest.raises(errors.StatementInvalid) as exc:
        lines(raw)
    assert exc.value.extra == {"line": 3}
    with pytest.raises(errors.StatementInvalid) as exc:  # and without a newline at all
        lines(raw.rstrip(b"\n"))
    assert exc.value.extra == {"line": 3}


def test_nul_characters_are_refused_at_upload():
    raw = b"reference,amount_minor,currency,booked_at,description\na,1,USD,2025-03-01,ok\nb,1,USD,2025-03-01,x\x00y\n"
    with pytest.raises(errors.StatementInvalid) as exc:
        lines(raw)
    assert exc.value.extra == {"line": 3} and "NUL" in exc.value.detail
