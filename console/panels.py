"""Sections other parts of the console add to the account page (the holds
panel, console/views/holds.py).

A panel is a function returning None (nothing to show) or
{"title": ..., "template": "console/panels/<name>.html", "context": {...}};
register it at import time from the owning app's console module (see
docs/console.md, "Adding a page or a panel")."""
from __future__ import annotations

from typing import Any, Callable

Panel = Callable[..., "dict[str, Any] | None"]

ACCOUNT_PANELS: list[Panel] = []  # fn(account) -> panel


def account_panel(fn: Panel) -> Panel:
    ACCOUNT_PANELS.append(fn)
    return fn


def panels_for(registry: list[Panel], obj) -> list[dict[str, Any]]:
    return [p for p in (fn(obj) for fn in registry) if p]
