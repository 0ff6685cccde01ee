"""Optional Redis connection: absent in embedded mode, shared state when configured."""

from __future__ import annotations

import logging

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


def connect_redis(url: str | None) -> redis.Redis | None:
    """A client for `url`, or None in embedded mode; connecting is lazy, so a down Redis
    shows up in readiness rather than at start-up."""
    if not url:
        return None
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        health_check_interval=30,
        # One quick retry: a request must not hang for seconds while Redis is down.
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
    )


def redis_is_up(client: redis.Redis | None) -> bool:
    """Whether Redis answers a PING right now."""
    if client is None:
        return False
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
