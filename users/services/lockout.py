"""Sign-in lockout for the console and the admin.

LOGIN_MAX_FAILURES failed sign-ins for one username from one IP, within
LOGIN_LOCKOUT_SECONDS, lock that pair until the window ends. Keyed by schema
too: a username exists per tenant. Counted in Redis (atomic INCR); when Redis
is unreachable sign-in fails open with a logged warning, as the API rate limit
does, because an outage of Redis must not lock every operator out.
"""
from __future__ import annotations

import hashlib
import logging
import unicodedata
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection, transaction

from core.actors import Actor
from core.redis import redis_client
from audit.services.audit import audit_record

log = logging.getLogger("zentra.lockout")

# KEYS[1] counter; ARGV[1] window. Returns {count, ttl}.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('TTL', KEYS[1])}
"""


@dataclass(frozen=True)
class LoginLock:
    locked: bool
    retry_after: int = 0


def login_name(username: str) -> str:
    """The name as authentication sees it: Django's username field applies
    NFKC before authenticate(), so 'ｏｐｓ' and '𝐨𝐩𝐬' sign in as 'ops' and
    must count against the same lock. Lowercased on top: case variants are
    distinct users to ModelBackend, but sharing one lock only errs towards
    locking."""
    return unicodedata.normalize("NFKC", username or "").strip().lower()


def _key(*, username: str, ip: str | None) -> str:
    ident = f"{connection.schema_name}\x00{login_name(username)}\x00{ip or '-'}"
    # Hashed: usernames and IPs are personal data and need not sit in Redis.
    return "zentra:login:" + hashlib.sha256(ident.encode()).hexdigest()[:40]


def login_lock_get(*, username: str, ip: str | None) -> LoginLock:
    try:
        r = redis_client()
        pipe = r.pipeline(transaction=False)
        pipe.get(_key(username=username, ip=ip))
        pipe.ttl(_key(username=username, ip=ip))
        count, ttl = pipe.execute()
    except redis.RedisError as exc:
        log.warning("login lockout not enforced: Redis unavailable (%s)", exc.__class__.__name__)
        return LoginLock(locked=False)
    if count is not None and int(count) >= settings.LOGIN_MAX_FAILURES:
        return LoginLock(locked=True, retry_after=max(int(ttl), 1))
    return LoginLock(locked=False)


def login_failure_record(*, username: str, ip: str | None, user_agent: str = "", surface: str) -> LoginLock:
    """Count one failed sign-in; the failure that reaches the threshold locks
    the pair and is audited (in a tenant's schema; the public schema has no
    audit table, so platform-staff lockouts are only logged)."""
    try:
        count, ttl = redis_client().eval(_FAIL, 1, _key(username=username, ip=ip), settings.LOGIN_LOCKOUT_SECONDS)
    except redis.RedisError as exc:
        log.warning("login failure not counted: Redis unavailable (%s)", exc.__class__.__name__)
        return LoginLock(locked=False)
    count, ttl = int(count), max(int(ttl), 1)
    if count < settings.LOGIN_MAX_FAILURES:
        return LoginLock(locked=False)
    if count == settings.LOGIN_MAX_FAILURES:
        log.warning("sign-in locked", extra={"username": username, "ip": ip, "surface": surface})
        if connection.schema_name != "public":
            with transaction.atomic():
                audit_record(
                    actor=Actor(kind="anonymous", ref=f"login:{username[:150]}", label=username[:150], ip=ip,
                                user_agent=user_agent[:300]),
                    action="auth.login_locked", target_type="user", target_id=username[:100],
                    metadata={"surface": surface, "failures": count, "locked_for_seconds": ttl},
                )
    return LoginLock(locked=True, retry_after=ttl)


def login_failures_clear(*, username: str, ip: str | None) -> None:
    try:
        redis_client().delete(_key(username=username, ip=ip))
    except redis.RedisError:
        pass  # a stale counter only expires later; nothing to protect here
