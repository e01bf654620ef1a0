"""Standard Webhooks signing secrets and signatures.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is the decoded
bytes. Secrets must be readable to sign, so they cannot be hashed like API
keys: at rest they are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under
WEBHOOK_SECRET_KEYS (the first key encrypts, any key decrypts, so the key can
be rotated). A database dump alone does not reveal them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode()


def secret_key_bytes(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(raw)


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per valid secret (two during a rotation)."""
    return " ".join(signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def secret_encrypt(secret: str) -> str:
    return _fernet(tuple(settings.WEBHOOK_SECRET_KEYS)).encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet(tuple(settings.WEBHOOK_SECRET_KEYS)).decrypt(token.encode()).decode()
