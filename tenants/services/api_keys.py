from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from audit.services.audit import audit_record
from core import errors as core_errors
from core.actors import Actor
from tenants.models import SCOPES, ApiKey, Tenant


def hash_secret(secret: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def api_key_create(*, actor: Actor, tenant: Tenant, name: str, scopes: list[str]) -> IssuedKey:
    """Issue a key for `tenant`. The key row is in the public schema; its
    `api_key.created` audit event goes into the tenant's own log, in the
    same transaction."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise core_errors.ValidationFailed(
            f"Unknown or empty scopes: {unknown or '[]'}; allowed: {list(SCOPES)}", field="scopes"
        )
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            tenant=tenant, name=name[:100], prefix=prefix, secret_hash=hash_secret(secret),
            scopes=sorted(set(scopes)), created_by=actor.ref,
        )
        with schema_context(tenant.schema_name):
            audit_record(actor=actor, action="api_key.created", target_type="api_key", target_id=key.prefix,
                         after={"name": key.name, "scopes": key.scopes})
    return IssuedKey(api_key=key, plaintext=f"zk_{prefix}_{secret}")


def api_key_revoke(*, actor: Actor, api_key: ApiKey, metadata: dict | None = None) -> ApiKey:
    """Revoke a key; `api_key.revoked` goes into its tenant's log in the same
    transaction. Revoking a revoked key changes nothing and records nothing."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("tenant").get(pk=api_key.pk)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            with schema_context(key.tenant.schema_name):
                audit_record(actor=actor, action="api_key.revoked", target_type="api_key", target_id=key.prefix,
                             before={"revoked_at": None}, after={"revoked_at": key.revoked_at.isoformat()},
                             metadata={"name": key.name, **(metadata or {})})
    api_key.revoked_at = key.revoked_at
    return api_key


def _key_with_tenant(*, prefix: str) -> ApiKey | None:
    """The key row and its tenant in one statement, on every API request.

    Plain SQL on psycopg rather than the ORM: compiling the select_related
    query was a quarter of a posting request's CPU. Tables are named with
    their schema, so no search_path has to be set first (django-tenants would
    issue a `SET search_path` round trip for it); the tenant's path is set
    once, after, for the request's own queries."""
    kf, tf = ApiKey._meta.concrete_fields, Tenant._meta.concrete_fields
    public = get_public_schema_name()
    sql = (f"SELECT {', '.join('k.' + f.column for f in kf)}, {', '.join('t.' + f.column for f in tf)} "
           f'FROM "{public}".{ApiKey._meta.db_table} k JOIN "{public}".{Tenant._meta.db_table} t '
           "ON t.id = k.tenant_id WHERE k.prefix = %s")
    # A Django cursor would run the request's health check (CONN_HEALTH_CHECKS)
    # before its first query; this is that query, so run the check here.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, [prefix])
        row = cur.fetchone()
    if row is None:
        return None
    key, tenant = _from_db(ApiKey, row[:len(kf)]), _from_db(Tenant, row[len(kf):])
    ApiKey.tenant.field.set_cached_value(key, tenant)
    return key


def _from_db(model, values):
    """A model instance from a raw row, through each field's own converter
    (the connection hands jsonb back as text; JSONField decodes it)."""
    fields = model._meta.concrete_fields
    converted = [f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
                 for f, v in zip(fields, values)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def api_key_authenticate(*, raw: str) -> ApiKey:
    """Resolve a presented key to its row, or raise a typed 401."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "zk" or not parts[1] or not parts[2]:
        raise core_errors.InvalidApiKey()
    key = _key_with_tenant(prefix=parts[1])
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(parts[2])):
        raise core_errors.InvalidApiKey()
    if key.revoked_at is not None:
        raise core_errors.RevokedApiKey()
    if key.tenant.status != Tenant.Status.ACTIVE:
        raise core_errors.InvalidApiKey("The tenant of this API key is suspended.")
    now = timezone.now()
    # Last-used is advisory: write at most once a minute so hot keys do not
    # turn every request into a write on one row.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
