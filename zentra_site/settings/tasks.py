from . import env

CELERY_BROKER_URL = env.REDIS_URL
CELERY_RESULT_BACKEND = env.REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env.CELERY_ALWAYS_EAGER
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs; apps add theirs here as they land (webhook dispatcher, hold expiry, chain sealing).
CELERY_BEAT_SCHEDULE: dict = {
    # The safety net behind the on-commit kick: picks up every due delivery,
    # including those whose task was lost with Redis or a killed worker.
    "webhooks-dispatch-due": {
        "task": "webhooks.dispatch_due",
        "schedule": env.WEBHOOKS_DISPATCH_INTERVAL,
        "options": {"expires": 10},  # a sweep queued while workers were down is worthless later
    },
    # Holds past expires_at are already refused for capture; this frees their
    # pending amount and announces ledger.hold.expired.
    "ledger-expire-due-holds": {
        "task": "ledger.expire_due_holds",
        "schedule": env.HOLD_EXPIRY_INTERVAL,
        "options": {"expires": 25},  # a sweep queued while workers were down is superseded by the next one
    },
    # Inbound provider deliveries left unapplied (their task was lost) and
    # waiting events that are due (providers/services/inbound.py).
    "providers-inbound-sweep": {
        "task": "providers.sweep",
        "schedule": env.INBOUND_SWEEP_INTERVAL,
        "options": {"expires": env.INBOUND_SWEEP_INTERVAL * 2},
    },
    # Rejected inbound deliveries past ZENTRA_INBOUND_REJECTED_RETENTION_DAYS.
    "providers-purge-rejected": {
        "task": "providers.purge_rejected",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
}
CELERY_TASK_DEFAULT_QUEUE = env.CELERY_QUEUE
# tenant-schemas-celery looks the tenant up for every task otherwise.
CELERY_TASK_TENANT_CACHE_SECONDS = 30
# Celery's Django fixup otherwise closes the database connection before and
# after every task: a new PostgreSQL connection per task (tens of ms, most of
# a webhook delivery). Reuse it for this many tasks.
CELERY_DB_REUSE_MAX = 1000

REDIS_URL = env.REDIS_URL

# Tamper-evident chain sealer (audit/tasks.py): a frequent pass over recent
# records and an hourly full pass for records whose transaction committed
# after the look-back window had moved on.
CHAIN_ENABLED = env.CHAIN_ENABLED
CHAIN_SEAL_LOOKBACK_SECONDS = env.CHAIN_SEAL_LOOKBACK_SECONDS
CHAIN_SEAL_BATCH = env.CHAIN_SEAL_BATCH
if env.CHAIN_ENABLED:
    CELERY_BEAT_SCHEDULE["audit-chain-seal"] = {
        "task": "audit.chain_seal_all",
        "schedule": float(env.CHAIN_SEAL_INTERVAL_SECONDS),
        "options": {"expires": float(env.CHAIN_SEAL_INTERVAL_SECONDS)},
    }
    CELERY_BEAT_SCHEDULE["audit-chain-seal-full"] = {
        "task": "audit.chain_seal_all",
        "schedule": 3600.0,
        "kwargs": {"full": True},
    }
