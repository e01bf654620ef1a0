"""The posting boundary: one idempotency key = one outcome, forever.

Semantics (SPEC "The posting boundary"):
- same key + same request hash  -> the stored status and body, replayed;
- same key + different request  -> 422 idempotency_key_reused, nothing written;
- same key, concurrently        -> the UNIQUE index makes the second insert wait
  for the first transaction; it then replays (or, past lock_timeout, 409);
- a policy rejection is stored under the key like a success.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core.actors import Actor
from ledger import errors
from core import errors as core_errors
from ledger.posting import statements
from ledger.posting.claim import claim_and_lock_for_posting
from ledger.models import IdempotencyRecord, LedgerEntry
from core.transactions import retry_on_conflict
from core.context import get_correlation_id
from core.db_errors import raise_mapped
from core.db import hot_execute

# The idempotency key's grammar, the one definition (docs/ledger.md): 1-255
# printable ASCII, spaces inside but none at either end. HTTP trims a
# header's surrounding whitespace, so "k " in a body would otherwise be a
# different key from the same literal sent as Idempotency-Key. The pattern
# is also the OpenAPI `pattern` (ECMA syntax); in Python `$` would accept a
# trailing newline, hence \Z.
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
KEY_RE = re.compile(KEY_PATTERN.removesuffix("$") + r"\Z")
REPLAY_HISTORY = 20


def _jsonb_key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def as_stored(value: Any) -> Any:
    """`value` with every object's keys in the order PostgreSQL's jsonb keeps
    them (shorter keys first, then bytewise): the order a replay, read back
    from the record's jsonb, answers in. The first answer goes out in it
    too, so an answer and its replays are the same bytes."""
    if isinstance(value, dict):
        return {k: as_stored(value[k]) for k in sorted(value, key=_jsonb_key_order)}
    if isinstance(value, list):
        return [as_stored(v) for v in value]
    return value


@dataclass(frozen=True)
class BoundaryOutcome:
    status: int
    body: dict[str, Any]
    replayed: bool
    entry_id: int | None = None

    @property
    def is_problem(self) -> bool:
        return self.status >= 400


def idempotency_key_clean(*, header: str | None, body_value: Any) -> str:
    if header is not None and body_value is not None and header != body_value:
        raise core_errors.IdempotencyKeyInvalid("The Idempotency-Key header and idempotency_key field differ.")
    key = header if header is not None else body_value
    if key is None or key == "":
        raise core_errors.IdempotencyKeyMissing("Send an Idempotency-Key header or an idempotency_key field.")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise core_errors.IdempotencyKeyInvalid()
    return key


def request_hash(*, operation: str, payload: Any) -> str:
    """Canonical hash: sorted keys, no whitespace, the key itself left out."""
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k != "idempotency_key"}
    canonical = json.dumps({"op": operation, "body": payload}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Posted:
    status: int
    body: dict[str, Any]
    entry_id: int | None
    # What the key did: "posted" (an entry; ledger_check ties the two), or
    # another money outcome without an entry ("held", "released").
    outcome: str = "posted"
    # The work completes the claim in its own write (entry_write's
    # finish_claim): one statement fewer on the hottest path.
    record_done: bool = False


def _replay(record: IdempotencyRecord, *, req_hash: str, actor: Actor) -> BoundaryOutcome:
    if record.request_hash != req_hash:
        raise core_errors.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
            idempotency_key=record.key, original_operation=record.operation,
        )
    if record.completed_at is None:  # cannot happen after the original committed; defensive
        raise core_errors.IdempotencyKeyInUse(idempotency_key=record.key)
    now = timezone.now()
    decision = {"at": now.isoformat(), "decision": "replayed", "actor": actor.ref, "correlation_id": get_correlation_id()}
    # Evidence only: the counter and recent decisions move, nothing else may.
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {IdempotencyRecord._meta.db_table} SET replay_count = replay_count + 1, last_replayed_at = %s, "
            "replays = (CASE WHEN jsonb_array_length(replays) >= %s THEN replays - 0 ELSE replays END) || %s::jsonb "
            "WHERE id = %s",
            [now, REPLAY_HISTORY, json.dumps([decision]), record.pk],
        )
    return BoundaryOutcome(status=record.response_status, body=record.response_body, replayed=True, entry_id=record.entry_id)


@retry_on_conflict
def boundary_run(
    *, key: str, operation: str, req_hash: str, actor: Actor, work: Callable[..., Posted],
    on_rejected: Callable[[errors.PolicyRejected], None] | None = None,
    lock_refs: Sequence[tuple[int | str, str]] | None = None, retryable: bool | None = None,
) -> BoundaryOutcome:
    """Run `work` at most once per key, inside this transaction, after the
    key is claimed.

    Contract for `work`: raise PolicyRejected only before writing anything
    (policies are evaluated on locked rows, then rows are written). The
    rejection is then stored under the key and committed; any other error
    rolls the whole transaction back, claim included, so nothing is
    remembered for validation errors.

    `lock_refs`: the accounts the work will post to, as (id or code, side)
    per line. The claim then reads them in the same statement, locking those
    a policy decision rests on (claim_and_lock_for_posting), and
    `work(locks)` receives the PostingLocks; without it, `work()` locks
    what it needs itself.

    `retryable`: whether this transaction is the outermost one, so that
    retry_on_conflict can run it again whole. A late lock (the write locks
    what the claim only read) may find an account changed since the read
    and ask for exactly that (40001); inside a caller's transaction it
    cannot be retried, so every account is locked by the claim instead.
    None: decided here from the connection (not inside a transaction).
    """
    claim = {"key": key, "operation": operation, "req_hash": req_hash, "actor_ref": actor.ref,
             "correlation_id": get_correlation_id()}
    lock_all = connection.in_atomic_block if retryable is None else not retryable
    try:
        with transaction.atomic():
            if lock_refs is not None:
                locks = claim_and_lock_for_posting(claim=claim, lines=lock_refs, lock_all=lock_all)
                claimed = locks is not None
            else:
                with hot_execute(statements.key_claim(), claim) as cur:
                    claimed = cur.fetchone() is not None
            if not claimed:
                return _replay(IdempotencyRecord.objects.get(key=key), req_hash=req_hash, actor=actor)
            try:
                posted = work(locks) if lock_refs is not None else work()
                outcome = posted.outcome
            except errors.PolicyRejected as rejection:
                if LedgerEntry.objects.filter(idempotency_key=key).exists():
                    raise RuntimeError(f"{operation}: PolicyRejected raised after rows were written") from rejection
                posted = Posted(status=rejection.status, body=rejection.to_problem() | {"idempotency_key": key},
                                entry_id=None)
                outcome = "rejected"
                if on_rejected is not None:
                    on_rejected(rejection)
            if not posted.record_done:
                IdempotencyRecord.objects.filter(key=key).update(
                    response_status=posted.status, response_body=posted.body, entry_id=posted.entry_id,
                    outcome=outcome, completed_at=timezone.now(),
                )
            return BoundaryOutcome(status=posted.status, body=as_stored(posted.body), replayed=False,
                                   entry_id=posted.entry_id)
    except OperationalError as exc:
        raise_mapped(exc, idempotency_key=key)  # 55P03: the key's original is still running
        raise


def boundary_create_once(
    *, key: str, operation: str, req_hash: str, actor: Actor, create: Callable[[], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """The posting boundary for creates that move no money (a webhook
    endpoint, a provider): `create` runs at most once per key and returns
    what the record keeps -- the new object's public id as "id", never a
    secret the answer shows once: the caller rebuilds the answer from the
    object. Returns (what create returned, replayed)."""

    def work() -> Posted:
        return Posted(status=201, body=create(), entry_id=None, outcome="created")

    outcome = boundary_run(key=key, operation=operation, req_hash=req_hash, actor=actor, work=work)
    if outcome.status != 201 or not isinstance(outcome.body, dict) or "id" not in outcome.body:
        raise core_errors.IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
            idempotency_key=key)
    return outcome.body, outcome.replayed
