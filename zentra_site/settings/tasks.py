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
}
CELERY_TASK_DEFAULT_QUEUE = env.CELERY_QUEUE
# tenant-schemas-celery looks the tenant up for every task otherwise.
CELERY_TASK_TENANT_CACHE_SECONDS = 30
# Celery's Django fixup otherwise closes the database connection before and
# after every task: a new PostgreSQL connection per task (tens of ms, most of
# a webhook delivery). Reuse it for this many tasks.
CELERY_DB_REUSE_MAX = 1000

REDIS_URL = env.REDIS_URL
