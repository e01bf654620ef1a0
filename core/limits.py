"""Per-tenant limits as every layer reads them: the settings' defaults,
overridden by the tenant's own `limits` (tenants/services/limits.py sets
them). Pure: the tenant is whatever carries a `limits` mapping (the
connection's tenant, an API key's)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

LIMIT_NAMES = ("requests_per_minute", "max_page_size", "max_body_bytes", "export_rows")


@dataclass(frozen=True)
class TenantLimits:
    requests_per_minute: int
    max_page_size: int
    max_body_bytes: int
    export_rows: int


def tenant_limits_get(*, tenant: Any) -> TenantLimits:
    """Defaults from settings, overridden by the tenant's `limits` where set
    to a positive integer (anything else in the JSON is ignored, not trusted)."""
    values = dict(settings.ZENTRA_DEFAULT_LIMITS)
    overrides = getattr(tenant, "limits", None) or {}
    if isinstance(overrides, dict):
        for name in LIMIT_NAMES:
            v = overrides.get(name)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                values[name] = v
    # The body-size middleware refuses above the platform ceiling before any
    # tenant is known: a tenant can be given less, never more.
    values["max_body_bytes"] = min(values["max_body_bytes"], settings.MAX_BODY_BYTES)
    return TenantLimits(**{n: int(values[n]) for n in LIMIT_NAMES})
