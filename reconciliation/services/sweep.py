from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from core.actors import Actor

from ..selectors import runs_stale
from .matching import reconciliation_run_abandon

MAX_ATTEMPTS = 3


def reconciliation_stale_requeue(*, actor: Actor, now: dt.datetime | None = None) -> dict[str, int]:
    """Runs nobody has worked on for RECONCILIATION_STALE_SECONDS: their task
    was lost (Redis restarted before a worker took it) or their worker died.
    Enqueue them again; after MAX_ATTEMPTS starts, give up and mark them failed.
    A run that is in fact still running is safe to enqueue: the second task
    finds the run's advisory lock taken and leaves."""
    from ..tasks import reconciliation_run_task

    now = now or timezone.now()
    requeued = abandoned = 0
    for run in runs_stale(older_than=now - dt.timedelta(seconds=settings.RECONCILIATION_STALE_SECONDS)):
        if run.attempts >= MAX_ATTEMPTS:
            reconciliation_run_abandon(run_id=run.pk, actor=actor,
                                       reason=f"The run was started {run.attempts} times and never finished.")
            abandoned += 1
        else:
            reconciliation_run_task.delay(run.pk)
            requeued += 1
    return {"requeued": requeued, "abandoned": abandoned}
