"""Request-scoped context (correlation id, tenant, actor) carried in contextvars
so that log lines, audit rows and outbox events all see the same values."""
from __future__ import annotations

import contextvars
import re

from core.ids import time_ordered_hex

correlation_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")

_VALID_CID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_correlation_id() -> str:
    return f"cid_{time_ordered_hex()}"


def clean_correlation_id(raw: str | None) -> str:
    """Accept a caller's id when it is safe to echo into headers and logs."""
    if raw and _VALID_CID.match(raw):
        return raw
    return new_correlation_id()


def get_correlation_id() -> str:
    cid = correlation_id_var.get()
    if cid == "-":
        cid = new_correlation_id()
        correlation_id_var.set(cid)
    return cid
