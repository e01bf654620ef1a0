"""Verifying provider signatures on inbound deliveries.

Two schemes:
- Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=…]`;
  the key is the secret string as given (`whsec_…` included), as Stripe's
  libraries use it. Several v1 values appear while Stripe rolls a secret.
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature:
  v1,<base64> [v1,<base64>…]` over "<id>.<timestamp>.<body>", the key being
  the base64 part of `whsec_…` (core.signing, which signs our own
  outbound webhooks the same way).

The signature is checked first, then the timestamp: a stale but genuine
delivery is told apart from a forged one in the log.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from providers.models import Provider, SignatureResult
from core.signing import signature as standard_signature
from core.ids import int_from_text

MAX_SIGNATURES = 8


@dataclass(frozen=True)
class Verification:
    result: str
    detail: str = ""
    timestamp: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == SignatureResult.VALID


def stripe_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _fresh(timestamp: int, now: int, tolerance: int) -> Verification:
    if abs(now - timestamp) > tolerance:
        return Verification(SignatureResult.STALE, f"timestamp {timestamp} is {now - timestamp} s from now; "
                                                   f"tolerance {tolerance} s", timestamp)
    return Verification(SignatureResult.VALID, "", timestamp)


def verify_stripe(*, header: str | None, body: bytes, secrets: list[str], now: int, tolerance: int) -> Verification:
    if not header:
        return Verification(SignatureResult.MISSING, "no Stripe-Signature header")
    timestamp, sigs = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            sigs.append(value.strip())
    if int_from_text(timestamp, max_value=10**12 - 1) is None:
        return Verification(SignatureResult.MALFORMED, "Stripe-Signature has no integer t=")
    if not sigs:
        return Verification(SignatureResult.MALFORMED, "Stripe-Signature has no v1= signature")
    ts = int(timestamp)
    for secret in secrets:
        expected = stripe_signature(secret=secret, timestamp=ts, body=body)
        if any(hmac.compare_digest(expected, s) for s in sigs[:MAX_SIGNATURES]):
            return _fresh(ts, now, tolerance)
    return Verification(SignatureResult.MISMATCH, "no v1 signature matches the body", ts)


def verify_standard(*, headers: dict[str, str], body: bytes, secrets: list[str], now: int,
                    tolerance: int) -> Verification:
    msg_id, ts_raw, sig_header = (headers.get("webhook-id"), headers.get("webhook-timestamp"),
                                  headers.get("webhook-signature"))
    if not (msg_id and ts_raw and sig_header):
        return Verification(SignatureResult.MISSING, "webhook-id, webhook-timestamp and webhook-signature are required")
    if int_from_text(ts_raw, max_value=10**12 - 1) is None:
        return Verification(SignatureResult.MALFORMED, "webhook-timestamp is not an integer")
    ts = int(ts_raw)
    sigs = [s for s in sig_header.split(" ") if s.startswith("v1,")][:MAX_SIGNATURES]
    if not sigs:
        return Verification(SignatureResult.MALFORMED, "webhook-signature has no v1 signature")
    for secret in secrets:
        try:
            expected = standard_signature(secret=secret, msg_id=msg_id, timestamp=ts, body=body)
        except ValueError:  # a secret that is not base64 cannot verify anything
            continue
        if any(hmac.compare_digest(expected, s) for s in sigs):
            return _fresh(ts, now, tolerance)
    return Verification(SignatureResult.MISMATCH, "no v1 signature matches the body", ts)


def verify(*, provider: Provider, headers: dict[str, str], body: bytes, secrets: list[str], now: int) -> Verification:
    """`headers` has lower-case names."""
    if provider.signature_scheme == Provider.Scheme.STRIPE:
        return verify_stripe(header=headers.get("stripe-signature"), body=body, secrets=secrets, now=now,
                             tolerance=provider.tolerance_seconds)
    return verify_standard(headers=headers, body=body, secrets=secrets, now=now, tolerance=provider.tolerance_seconds)
