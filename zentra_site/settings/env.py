"""The one place Zentra reads its environment.

Every other settings module imports from here, so a new variable is always
documented in a single list and has a local default that works on a developer
machine.
"""
from __future__ import annotations

import os


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


DEBUG = _bool("ZENTRA_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-insecure-zentra-secret-key-change-me-in-production-0123456789")
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BASE_DOMAIN = os.environ.get("ZENTRA_BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = [h for h in os.environ.get("ZENTRA_ALLOWED_HOSTS", "").split(",") if h]
# Pepper mixed into API-key hashes: a leaked database alone cannot be used to
# brute-force keys without it.
API_KEY_PEPPER = os.environ.get("ZENTRA_API_KEY_PEPPER", "dev-api-key-pepper")
LOG_LEVEL = os.environ.get("ZENTRA_LOG_LEVEL", "INFO")
LOG_JSON = _bool("ZENTRA_LOG_JSON", True)
MAX_BODY_BYTES = _int("ZENTRA_MAX_BODY_BYTES", 1_048_576)
# Loopback webhook targets are allowed for local development and the tests only.
WEBHOOKS_ALLOW_LOOPBACK = _bool("ZENTRA_WEBHOOKS_ALLOW_LOOPBACK", DEBUG)
CELERY_ALWAYS_EAGER = _bool("ZENTRA_CELERY_EAGER", False)
# Seconds between hold-expiry sweeps (holds past expires_at are refused at once; the sweep frees pending).
HOLD_EXPIRY_INTERVAL = _int("ZENTRA_HOLD_EXPIRY_INTERVAL", 30)
SECURE_COOKIES = _bool("ZENTRA_SECURE_COOKIES", not DEBUG)
# The test suite uses its own Redis database so a running dev worker never
# picks up a test's tasks (and vice versa).
TEST_REDIS_URL = os.environ.get("ZENTRA_TEST_REDIS_URL", REDIS_URL.rsplit("/", 1)[0] + "/15")
