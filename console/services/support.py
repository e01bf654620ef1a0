"""Safe support actions taken from the Django admin. Each one goes through
the owning app's service and leaves an audit event in the affected tenant's
log, in the same transaction."""
from __future__ import annotations

from audit.actors import Actor
from tenants.models import ApiKey
from tenants.services.api_keys import api_key_revoke


def api_key_support_revoke(*, actor: Actor, api_key_id: int, reason: str = "") -> ApiKey:
    """Revoke a key from the public admin. api_key_revoke writes the event
    into the key's tenant's log: that tenant's compliance team sees who at
    the platform revoked their key, and when."""
    key = ApiKey.objects.get(pk=api_key_id)
    return api_key_revoke(actor=actor, api_key=key, metadata={"via": "admin", "reason": reason})
