import base64
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.signing import secret_decrypt, secret_encrypt, secret_generate, signature, signature_header

VECTOR_SECRET = "whsec_plJ3nmyCDGBKInavdOK15jsl"
VECTOR_ID = "msg_loFOjxBNrRLzqYUf"
VECTOR_TS = 1731705121
VECTOR_BODY = b'{"event_type":"ping","data":{"success":true}}'
VECTOR_SIG = "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0="


def test_standard_webhooks_test_vector():
    assert signature(secret=VECTOR_SECRET, msg_id=VECTOR_ID, timestamp=VECTOR_TS, body=VECTOR_BODY) == VECTOR_SIG


def test_the_library_agrees_on_the_vector():
    lib = Webhook(VECTOR_SECRET).sign(VECTOR_ID, _dt(VECTOR_TS), VECTOR_BODY.decode())
    assert lib == VECTOR_SIG


def _dt(ts):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc)


def test_generated_secrets_are_whsec_base64_of_32_random_bytes():
    seen = {secret_generate() for _ in range(50)}
    assert len(seen) == 50
    for secret in seen:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_library_verifies_our_headers_with_either_secret_during_rotation():
    old, new = secret_generate(), secret_generate()
    body = json.dumps({"type": "ledger.entry.created", "data": {"x": 1}}).encode()
    ts = int(time.time())
    headers = {
        "webhook-id": "evt_abc",
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(secrets=[new, old], msg_id="evt_abc", timestamp=ts, body=body),
    }
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "ledger.entry.created", "data": {"x": 1}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_generate()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_secrets_are_encrypted_at_rest():
    secret = secret_generate()
    token = secret_encrypt(secret)
    assert secret not in token and secret.removeprefix("whsec_") not in token
    assert secret_decrypt(token) == secret
