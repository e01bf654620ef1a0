from __future__ import annotations

import functools
import logging
import random
import time
from typing import Callable, TypeVar

from django.db import OperationalError, connection

from core import errors
from core.db_errors import RETRYABLE, sqlstate

log = logging.getLogger("zentra.transactions")
T = TypeVar("T")
MAX_ATTEMPTS = 6


def retry_on_conflict(fn: Callable[..., T]) -> Callable[..., T]:
    """Re-run a whole transaction after a serialization failure or deadlock,
    so clients never see one. Must wrap the outermost atomic block."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                if sqlstate(exc) not in RETRYABLE or connection.in_atomic_block:
                    raise
                if attempt == MAX_ATTEMPTS:
                    # Nothing was written; a client retry (same key) is safe. A 409, not a 500.
                    log.warning("%s still conflicting after %d attempts (%s)", fn.__name__, attempt, sqlstate(exc))
                    raise errors.TransactionConflict(attempts=attempt) from exc
                log.warning("retrying %s after %s (attempt %d)", fn.__name__, sqlstate(exc), attempt)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper
