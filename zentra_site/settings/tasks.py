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
    # Holds past expires_at are already refused for capture; this frees their
    # pending amount and announces ledger.hold.expired.
    "ledger-expire-due-holds": {
        "task": "ledger.expire_due_holds",
        "schedule": env.HOLD_EXPIRY_INTERVAL,
        "options": {"expires": 25},  # a sweep queued while workers were down is superseded by the next one
    },
}

REDIS_URL = env.REDIS_URL
