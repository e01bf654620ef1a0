"""One mapping from database errors to typed errors.

A refusal can come from PostgreSQL rather than from Python: a trigger's own
SQLSTATE (the closed-period rule), a balance leaving bigint's range, a lock
timeout on an idempotency key, a serialization failure. Each SQLSTATE that
means something to a client maps to one ZentraError here, whichever code path
hit it: services re-raise through `raise_mapped`, and the problem+json handler
and the console's error pages map whatever reached them unmapped.

Apps register the SQLSTATEs whose errors they own (`sqlstate_maps`) in their
errors module; core registers the generic ones below.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from django.db import DataError, DatabaseError

from core import errors

Factory = Callable[[BaseException, dict[str, Any]], errors.ZentraError]
_FACTORIES: dict[str, Factory] = {}

SERIALIZATION_FAILURE, DEADLOCK, LOCK_NOT_AVAILABLE = "40001", "40P01", "55P03"
NUMERIC_OUT_OF_RANGE = "22003"
# Worth replaying the whole transaction for: both mean "nothing happened, try again".
RETRYABLE = frozenset({SERIALIZATION_FAILURE, DEADLOCK})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a Django database error (psycopg's error is its cause)."""
    cause = exc.__cause__ or exc.__context__
    return getattr(cause, "sqlstate", None) or getattr(exc, "pgcode", None)


def sqlstate_maps(code: str) -> Callable[[Factory], Factory]:
    """Register the typed error a SQLSTATE becomes. One owner per code."""

    def register(factory: Factory) -> Factory:
        if _FACTORIES.get(code, factory) is not factory:
            raise RuntimeError(f"SQLSTATE {code} is already mapped")
        _FACTORIES[code] = factory
        return factory

    return register


def database_error(exc: BaseException, **context: Any) -> errors.ZentraError | None:
    """The typed error for `exc`, or None when its SQLSTATE means nothing to
    a client (then it is a bug and stays a 500). `context` adds what the
    caller knows (the idempotency key, say) to the problem."""
    if not isinstance(exc, DatabaseError):
        return None
    factory = _FACTORIES.get(sqlstate(exc) or "")
    return None if factory is None else factory(exc, context)


def raise_mapped(exc: BaseException, **context: Any) -> None:
    """Raise the typed error for `exc` (from it) if it has one; else return,
    for the caller to re-raise `exc` itself."""
    mapped = database_error(exc, **context)
    if mapped is not None:
        raise mapped from exc


@contextmanager
def database_errors_mapped(**context: Any) -> Iterator[None]:
    """raise_mapped around a block, for the data errors (SQLSTATE class 22) a
    balance's arithmetic raises: what every path that moves a balance
    (entries, batches, holds) writes through, so an overflow reads the same
    on each. Other refusals (a closed period's trigger, a lock timeout) go up
    as they are: the callers that retry or fall back read them raw, and the
    problem handler maps what reaches it."""
    try:
        yield
    except DataError as exc:
        raise_mapped(exc, **context)
        raise


def database_message(exc: BaseException) -> str:
    """The first line of a refusal PostgreSQL raised (a trigger's own text), as a sentence."""
    text = str(exc.__cause__ or exc).split("\n")[0].removeprefix("zentra: ")
    return text[:1].upper() + text[1:]


@sqlstate_maps(LOCK_NOT_AVAILABLE)
def _key_in_use(exc: BaseException, context: dict[str, Any]) -> errors.ZentraError:
    # Only the idempotency claims wait under a lock_timeout: the lock they
    # could not get is a key whose original request is still running.
    return errors.IdempotencyKeyInUse(
        "Another request with this Idempotency-Key is still in progress; retry shortly.", **context)


def _conflict(exc: BaseException, context: dict[str, Any]) -> errors.ZentraError:
    return errors.TransactionConflict(**context)


sqlstate_maps(SERIALIZATION_FAILURE)(_conflict)
sqlstate_maps(DEADLOCK)(_conflict)
