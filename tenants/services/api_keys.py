from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger import errors
from tenants.models import SCOPES, ApiKey, Tenant


def hash_secret(secret: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def api_key_create(*, tenant: Tenant, name: str, scopes: list[str], created_by: str = "") -> IssuedKey:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise errors.ValidationFailed(
            f"Unknown or empty scopes: {unknown or '[]'}; allowed: {list(SCOPES)}", field="scopes"
        )
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            tenant=tenant, name=name[:100], prefix=prefix, secret_hash=hash_secret(secret),
            scopes=sorted(set(scopes)), created_by=created_by,
        )
    return IssuedKey(api_key=key, plaintext=f"zk_{prefix}_{secret}")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        api_key.refresh_from_db()
    return api_key


def api_key_authenticate(*, raw: str) -> ApiKey:
    """Resolve a presented key to its row, or raise a typed 401."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "zk" or not parts[1] or not parts[2]:
        raise errors.InvalidApiKey()
    key = ApiKey.objects.select_related("tenant").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(parts[2])):
        raise errors.InvalidApiKey()
    if key.revoked_at is not None:
        raise errors.RevokedApiKey()
    if key.tenant.status != Tenant.Status.ACTIVE:
        raise errors.InvalidApiKey("The tenant of this API key is suspended.")
    now = timezone.now()
    # Last-used is advisory: write at most once a minute so hot keys do not
    # turn every request into a write on one row.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
