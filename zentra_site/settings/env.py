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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


DEBUG = _bool("ZENTRA_DEBUG", True)
# The development defaults are named so `check --deploy` can refuse them
# (zentra_site/checks.py): they are public, in this repository.
DEV_SECRET_KEY = "dev-insecure-zentra-secret-key-change-me-in-production-0123456789"
DEV_API_KEY_PEPPER = "dev-api-key-pepper"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zentra")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Database roles (docs/operations.md, "Database roles"). DB_OWNER_ROLE owns
# every schema and table; the app connects as DB_APP_ROLE, which may only read
# and write rows and make a tenant schema through the owner's
# zentra_schema_provision. Empty DB_OWNER_ROLE: the connecting user does
# everything (dev, tests).
DB_OWNER_ROLE = os.environ.get("ZENTRA_DB_OWNER_ROLE", "")
DB_APP_ROLE = os.environ.get("ZENTRA_DB_APP_ROLE", "zentra_app")
# A role every new connection switches to at once (migrations run with
# ZENTRA_DB_SET_ROLE=zentra_owner so the tables they create belong to it).
DB_SET_ROLE = os.environ.get("ZENTRA_DB_SET_ROLE", "")
# The database is a Citus coordinator with schema-based sharding: each tenant
# schema is distributed to a worker (docs/architecture.md, "Scaling past one machine").
CITUS = os.environ.get("ZENTRA_CITUS", "") not in ("", "0", "false", "no")
BASE_DOMAIN = os.environ.get("ZENTRA_BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = [h for h in os.environ.get("ZENTRA_ALLOWED_HOSTS", "").split(",") if h]
# Pepper mixed into API-key hashes: a leaked database alone cannot be used to
# brute-force keys without it.
API_KEY_PEPPER = os.environ.get("ZENTRA_API_KEY_PEPPER", DEV_API_KEY_PEPPER)
LOG_LEVEL = os.environ.get("ZENTRA_LOG_LEVEL", "INFO")
LOG_JSON = _bool("ZENTRA_LOG_JSON", True)
MAX_BODY_BYTES = _int("ZENTRA_MAX_BODY_BYTES", 1_048_576)
# Provider statements for reconciliation are the one upload allowed past
# MAX_BODY_BYTES (a 100k-line Stripe export is ~25 MB).
RECONCILIATION_MAX_UPLOAD_BYTES = _int("ZENTRA_RECONCILIATION_MAX_UPLOAD_BYTES", 100 * 1_048_576)
# Inbound provider callbacks (providers app): body cap, and how long a stored
# delivery may sit unapplied before the sweep applies it.
INBOUND_MAX_BODY_BYTES = _int("ZENTRA_INBOUND_MAX_BODY_BYTES", 256 * 1024)
INBOUND_SWEEP_GRACE_SECONDS = _int("ZENTRA_INBOUND_SWEEP_GRACE_SECONDS", 30)
INBOUND_REJECTED_STORED_BYTES_PER_MINUTE = _int("ZENTRA_INBOUND_REJECTED_STORED_BYTES_PER_MINUTE", 64 * 1024)
INBOUND_REJECTED_RETENTION_DAYS = _int("ZENTRA_INBOUND_REJECTED_RETENTION_DAYS", 30)
INBOUND_SWEEP_INTERVAL = _float("ZENTRA_INBOUND_SWEEP_INTERVAL", 15.0)
# A run with no progress for this long is handed to a worker again (its task
# was lost with Redis, or its worker died mid-run).
RECONCILIATION_STALE_SECONDS = _int("ZENTRA_RECONCILIATION_STALE_SECONDS", 600)
# Per-API-key defaults; a tenant's `limits` JSON overrides any of them.
RATE_LIMIT_PER_MINUTE = _int("ZENTRA_RATE_LIMIT_PER_MINUTE", 600)
MAX_PAGE_SIZE = _int("ZENTRA_MAX_PAGE_SIZE", 200)
EXPORT_ROWS = _int("ZENTRA_EXPORT_ROWS", 1_000_000)
# Console/admin sign-in: this many failures per username and IP within the
# window lock that pair out until the window ends.
LOGIN_MAX_FAILURES = _int("ZENTRA_LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = _int("ZENTRA_LOGIN_LOCKOUT_SECONDS", 900)
# Loopback webhook targets are allowed for local development and the tests only.
WEBHOOKS_ALLOW_LOOPBACK = _bool("ZENTRA_WEBHOOKS_ALLOW_LOOPBACK", DEBUG)
CELERY_ALWAYS_EAGER = _bool("ZENTRA_CELERY_EAGER", False)
# Seconds between hold-expiry sweeps (holds past expires_at are refused at once; the sweep frees pending).
HOLD_EXPIRY_INTERVAL = _int("ZENTRA_HOLD_EXPIRY_INTERVAL", 30)
SECURE_COOKIES = _bool("ZENTRA_SECURE_COOKIES", not DEBUG)
# The test suite uses its own Redis database so a running dev worker never
# picks up a test's tasks (and vice versa).
TEST_REDIS_URL = os.environ.get("ZENTRA_TEST_REDIS_URL", REDIS_URL.rsplit("/", 1)[0] + "/15")
# Fernet keys (comma-separated; the first encrypts, all decrypt) protecting
# webhook signing secrets at rest. Empty: one key derived from DJANGO_SECRET_KEY.
WEBHOOK_SECRET_KEYS = [k.strip() for k in os.environ.get("ZENTRA_WEBHOOK_SECRET_KEYS", "").split(",") if k.strip()]
# A delivery attempt succeeds on a 2xx within this many seconds.
WEBHOOKS_TIMEOUT_SECONDS = _float("ZENTRA_WEBHOOKS_TIMEOUT_SECONDS", 15.0)
# How long a claimed delivery belongs to one worker before the dispatcher may
# hand it to another (a crashed worker's deliveries come back after this).
WEBHOOKS_LEASE_SECONDS = _float("ZENTRA_WEBHOOKS_LEASE_SECONDS", 60.0)
WEBHOOKS_DISPATCH_INTERVAL = _float("ZENTRA_WEBHOOKS_DISPATCH_INTERVAL", 1.0)
# Deliveries one dispatcher task claims and sends, and the threads it sends
# them with (per worker process).
WEBHOOKS_BATCH_SIZE = _int("ZENTRA_WEBHOOKS_BATCH_SIZE", 100)
WEBHOOKS_SEND_THREADS = _int("ZENTRA_WEBHOOKS_SEND_THREADS", 8)
# Queue this process's tasks go to and (for a worker) are read from.
CELERY_QUEUE = os.environ.get("ZENTRA_CELERY_QUEUE", "celery")
# Tamper-evident chain (audit/services/chain.py). Off: nothing is sealed and
# verify reports every record as unsealed; used to measure the chain's cost.
CHAIN_ENABLED = _bool("ZENTRA_CHAIN_ENABLED", True)
CHAIN_SEAL_INTERVAL_SECONDS = _int("ZENTRA_CHAIN_SEAL_INTERVAL_SECONDS", 5)
# The periodic sealer only scans records stamped within this window (cheap,
# indexed); an hourly full pass and every verify/export catch older stragglers.
CHAIN_SEAL_LOOKBACK_SECONDS = _int("ZENTRA_CHAIN_SEAL_LOOKBACK_SECONDS", 900)
CHAIN_SEAL_BATCH = _int("ZENTRA_CHAIN_SEAL_BATCH", 20_000)
