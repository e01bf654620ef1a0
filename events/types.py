"""The event types Zentra emits: what an endpoint may subscribe to.

Subscriptions name a type exactly, a family (`ledger.*`, `ledger.hold.*`) or
everything (`*`). A family must contain at least one known type, so a typo
like `leger.*` is refused instead of silently matching nothing. Apps that
start emitting a new type add it here.
"""
from __future__ import annotations

import re

EVENT_TYPES: dict[str, str] = {
    "ledger.entry.created": "A ledger entry was posted.",
    "ledger.entry.reversed": "A ledger entry was reversed by a mirror entry.",
    "ledger.entry.pending_approval": "A manual entry above the approval threshold awaits a second operator.",
    "ledger.entry.rejected": "A requested entry was rejected by a policy.",
    "ledger.hold.created": "Funds were reserved on an account.",
    "ledger.hold.captured": "A hold was captured (fully or partially) into an entry.",
    "ledger.hold.released": "A hold was released (voided).",
    "ledger.hold.expired": "A hold reached expires_at and was released by a worker.",
    "account.created": "An account was opened.",
    "account.updated": "An account's name, policy set or metadata changed.",
    "account.frozen": "An account was frozen.",
    "account.unfrozen": "A frozen account was opened again.",
    "account.closed": "An account was closed.",
    "policy.created": "A policy was created.",
    "policy.revised": "A new version of a policy was published.",
    "policy.rejected": "A policy rejected a money request (the request and the rule that refused it).",
    "period.closing": "An accounting period stopped taking entries dated inside it (closing).",
    "period.closed": "An accounting period was closed.",
    "period.reopened": "An accounting period was opened again (a closing one at once, a closed one by maker-checker).",
    "reconciliation.completed": "A reconciliation run finished.",
    "webhook.endpoint.disabled": "A webhook endpoint was disabled (by an operator, HTTP 410, or days of failures).",
}

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


def pattern_is_known(pattern: str) -> bool:
    if pattern == "*":
        return True
    if not PATTERN.match(pattern):
        return False
    if pattern.endswith(".*"):
        prefix = pattern[:-1]  # keeps the dot: "ledger." never matches "ledgerx.y"
        return any(t.startswith(prefix) for t in EVENT_TYPES)
    return pattern in EVENT_TYPES


def patterns_matching(event_type: str) -> list[str]:
    """Every subscription pattern that selects `event_type`:
    "ledger.entry.created" → ["*", "ledger.*", "ledger.entry.*", "ledger.entry.created"]."""
    parts = event_type.split(".")
    return ["*"] + [".".join(parts[:i]) + ".*" for i in range(1, len(parts))] + [event_type]
