from . import env
from .tasks import CELERY_BEAT_SCHEDULE

RECONCILIATION_MAX_UPLOAD_BYTES = env.RECONCILIATION_MAX_UPLOAD_BYTES
RECONCILIATION_STALE_SECONDS = env.RECONCILIATION_STALE_SECONDS
# The safety net behind the on-commit kick: a run whose task was lost (Redis
# restart, killed worker) is enqueued again.
CELERY_BEAT_SCHEDULE["reconciliation-sweep"] = {
    "task": "reconciliation.sweep",
    "schedule": 60.0,
    "options": {"expires": 55},
}
