"""Per-tenant limits and the per-API-key rate limit.

The rate limit is a fixed one-minute window counted in Redis by one Lua script
(INCR, EXPIRE on the first hit, read the TTL; sent by its SHA), so concurrent requests on any
number of web processes share one atomic counter.

If Redis is unreachable the limiter fails open and logs a warning: the rate
limit protects capacity, not money. Double postings are prevented by the
posting boundary (a UNIQUE key in PostgreSQL), overdrafts by policies under
row locks, so an outage of Redis must not take the ledger API down with it.
"""
from __future__ import annotations

import logging
from functools import lru_cache

import redis
from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_context

from core import errors
from core.limits import LIMIT_NAMES
from core.redis import redis_client_for
from core.actors import Actor
from audit.services.audit import audit_record
from tenants.models import Tenant

log = logging.getLogger("zentra.limits")

WINDOW_SECONDS = 60

# KEYS[1] counter; ARGV[1] window. Returns {count, ttl}. One round trip, atomic.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


# KEYS[1] counter; ARGV[1] window, ARGV[2] amount. Returns {total, ttl}.
_ADD = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


@lru_cache(maxsize=4)
def _hit_script(url: str):
    # EVALSHA: Redis keeps the compiled script and each request sends its
    # hash, not its text to hash and look up again. After a Redis restart
    # (NOSCRIPT) the Script loads it once more and retries.
    return redis_client_for(url).register_script(_HIT)


def tenant_limits_set(*, actor: Actor, tenant: Tenant, **limits: int | None) -> Tenant:
    """Set (positive int) or clear (None) per-tenant overrides, with a
    `tenant.limits_changed` event (before and after) in the tenant's log.
    Its own transaction (durable, never inside a caller's): every request of
    the tenant reads these limits, so the change is committed when this
    returns."""
    unknown = sorted(set(limits) - set(LIMIT_NAMES))
    if unknown:
        raise errors.ValidationFailed(f"Unknown limits: {unknown}; known: {list(LIMIT_NAMES)}", field="limits")
    for name, value in limits.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise errors.ValidationFailed(f"'{name}' must be a positive integer.", field=name)
    with transaction.atomic(durable=True):
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = dict(locked.limits or {})
        current = dict(before)
        for name, value in limits.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        if current != before:
            Tenant.objects.filter(pk=tenant.pk).update(limits=current)
            with schema_context(locked.schema_name):
                audit_record(actor=actor, action="tenant.limits_changed", target_type="tenant",
                             target_id=locked.slug, before=before, after=current)
    tenant.limits = current
    return tenant


def rate_limit_hit(*, bucket: str, window_seconds: int = WINDOW_SECONDS) -> tuple[int, int] | None:
    """Count one hit against `bucket`: (hits in this window so far, seconds
    left in it), or None when Redis could not be asked (logged; the callers
    fail open)."""
    try:
        count, ttl = _hit_script(settings.REDIS_URL)(keys=[f"zentra:rl:{bucket}"], args=[window_seconds])
    except redis.RedisError as exc:
        log.warning("rate limit not enforced: Redis unavailable (%s)", exc.__class__.__name__,
                    extra={"bucket": bucket})
        return None
    return int(count), max(int(ttl), 1)


def rate_limit_add(*, bucket: str, amount: int, window_seconds: int = WINDOW_SECONDS) -> tuple[int, int] | None:
    """rate_limit_hit counting `amount` (bytes, say) instead of one: (total
    in this window so far, seconds left in it), or None without Redis."""
    try:
        total, ttl = redis_client_for(settings.REDIS_URL).eval(_ADD, 1, f"zentra:rl:{bucket}", window_seconds, int(amount))
    except redis.RedisError as exc:
        log.warning("rate limit not enforced: Redis unavailable (%s)", exc.__class__.__name__,
                    extra={"bucket": bucket})
        return None
    return int(total), max(int(ttl), 1)


def rate_limit_consume(*, bucket: str, limit: int, window_seconds: int = WINDOW_SECONDS) -> int | None:
    """Count one request against `bucket`; raise RateLimited past `limit`.

    Returns the requests left in the window, or None when Redis could not be
    asked (fail open, logged)."""
    hit = rate_limit_hit(bucket=bucket, window_seconds=window_seconds)
    if hit is None:
        return None
    count, ttl = hit
    if count > limit:
        raise errors.RateLimited(
            f"More than {limit} requests per {window_seconds} s for this API key; retry in {ttl} s.",
            retry_after=ttl, limit=limit,
        )
    return limit - count
