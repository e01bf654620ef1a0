"""Safe support actions taken from the Django admin. Each one goes through
the owning app's service and leaves an audit event in the affected tenant's
log, in the same transaction."""
from __future__ import annotations

from django.db import transaction
from django_tenants.utils import schema_context

from core.actors import Actor
from audit.services.audit import audit_record
from tenants.models import ApiKey
from tenants.services.api_keys import api_key_revoke


def api_key_support_revoke(*, actor: Actor, api_key_id: int, reason: str = "") -> ApiKey:
    """Revoke a key from the public admin. Audit rows live in tenant schemas,
    so the event is written into the key's tenant: that tenant's compliance
    team sees who at the platform revoked their key, and when."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("tenant").get(pk=api_key_id)
        if key.revoked_at is not None:
            return key
        key = api_key_revoke(api_key=key)
        with schema_context(key.tenant.schema_name):
            audit_record(actor=actor, action="api_key.revoked", target_type="api_key", target_id=key.prefix,
                         before={"revoked_at": None}, after={"revoked_at": key.revoked_at.isoformat()},
                         metadata={"via": "admin", "name": key.name, "reason": reason})
    return key
