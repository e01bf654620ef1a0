"""The Redis client for what Redis holds directly (rate-limit windows,
sign-in lockouts): counters that may be lost, never facts."""
from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def redis_client_for(url: str) -> redis.Redis:
    # Short timeouts: a hung Redis must cost a request milliseconds, not seconds.
    return redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)


def redis_client() -> redis.Redis:
    return redis_client_for(settings.REDIS_URL)
