"""Ids in URLs and headers: only ASCII digits within bigint are ids. Other
Unicode digits ('¹', '٣') and out-of-range numbers are a 404, never a 500
(a fuzz run found GET /v1/accounts/¹ answering 500)."""
import pytest

from providers.signatures import SignatureResult, verify_standard, verify_stripe
from core.ids import BIGINT_MAX, int_from_text


@pytest.mark.parametrize("raw, expected", [
    ("0", 0), ("42", 42), (42, 42), (str(BIGINT_MAX), BIGINT_MAX), (str(BIGINT_MAX + 1), None),
    ("¹", None), ("٣", None), ("1²", None), ("-1", None), ("+1", None), (" 1", None), ("1.0", None), ("", None),
    (None, None), (True, None), ("9" * 40, None),
])
def test_int_from_text(raw, expected):
    assert int_from_text(raw) == expected


@pytest.mark.parametrize("path", [
    "/v1/accounts/{}", "/v1/accounts/{}/statement", "/v1/ledger-entries/{}", "/v1/holds/{}",
    "/v1/reconciliations/{}",
])
@pytest.mark.parametrize("ref", ["¹", "٣", str(2**63), "9" * 30])
def test_odd_ids_in_urls_are_404(api, path, ref):
    r = api.get(path.format(ref))
    assert r.status_code == 404, (path, ref, r.status_code, r.content[:200])
    assert r["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("ts", ["¹²³", "١٧٠٠٠٠٠٠٠٠"])
def test_unicode_digit_timestamps_are_malformed_signatures(ts):
    assert verify_stripe(header=f"t={ts},v1=abc", body=b"{}", secrets=["whsec_x"], now=1_700_000_000,
                         tolerance=300).result == SignatureResult.MALFORMED
    assert verify_standard(headers={"webhook-id": "m", "webhook-timestamp": ts, "webhook-signature": "v1,abc"},
                           body=b"{}", secrets=["whsec_x"], now=1_700_000_000,
                           tolerance=300).result == SignatureResult.MALFORMED


def test_time_ordered_hex_is_a_uuid7():
    import uuid

    from core.ids import time_ordered_hex

    u = uuid.UUID(time_ordered_hex())
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert len(u.hex) == 32


def test_time_ordered_hex_grows_with_time_and_stays_random_within_a_millisecond():
    import time

    from core.ids import time_ordered_hex

    made = []
    for _ in range(20):
        made.append(time_ordered_hex())
        time.sleep(0.002)
    assert made == sorted(made)
    # the same millisecond: same prefix, different ids
    same_ms = {time_ordered_hex() for _ in range(1000)}
    assert len(same_ms) == 1000

