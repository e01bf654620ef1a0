"""One form key = one outcome, for console actions that are not postings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from console.models import FormSubmission
from core import errors
from ledger.services.boundary import KEY_RE, request_hash
from core.transactions import retry_on_conflict

IN_FLIGHT_WAIT = "15s"


@dataclass(frozen=True)
class SubmissionOutcome:
    result: dict[str, Any]
    replayed: bool


@retry_on_conflict
def form_submission_run(
    *, actor: Actor, key: str, action: str, payload: dict[str, Any], work: Callable[[], dict[str, Any]],
) -> SubmissionOutcome:
    """Run `work` (which calls the action's service and returns what to show:
    {"redirect": ..., "message": ...}) at most once per key, in one
    transaction with the claim. A duplicate submit waits for the original
    and replays its result; an error in `work` rolls the claim back too, so
    the user can correct the form and send it again."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise errors.IdempotencyKeyMissing("This form has no valid submission key; reload the page and try again.")
    req_hash = request_hash(operation=f"console.{action}", payload=payload)
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(f"SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'")
                cur.execute(
                    f"INSERT INTO {FormSubmission._meta.db_table} (key, action, request_hash, actor_ref, created_at) "
                    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (key) DO NOTHING RETURNING id",
                    [key, action, req_hash, actor.ref],
                )
                row = cur.fetchone()
            if row is None:
                done = FormSubmission.objects.get(key=key)
                if done.action != action or done.request_hash != req_hash:
                    raise errors.IdempotencyKeyReused(
                        "This form was already submitted with different values; reload it to start again.",
                        idempotency_key=key,
                    )
                return SubmissionOutcome(result=done.result or {}, replayed=True)
            result = work()
            FormSubmission.objects.filter(pk=row[0]).update(result=result, completed_at=timezone.now())
            return SubmissionOutcome(result=result, replayed=False)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":
            raise errors.IdempotencyKeyInUse("This form is still being processed; wait a moment.") from exc
        raise
