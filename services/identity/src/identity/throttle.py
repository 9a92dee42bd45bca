"""Failed-attempt throttling in Redis, shared by every identity instance.

Fixed windows: the first failure starts a window of ``window_s``; once a key has
``limit`` failures in its window, attempts are refused until the window ends. A key per
account (the hashed login name, whether or not it exists, so the 429 reveals nothing)
and a key per client IP.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

THROTTLED = Counter("identity_throttled_total", "Attempts refused by throttling", ["scope"])
THROTTLE_ERRORS = Counter("identity_throttle_errors_total", "Redis errors while throttling")


@dataclass(frozen=True)
class Bucket:
    scope: str  # account | ip | client
    key: str
    limit: int


class Throttle:
    def __init__(self, redis: Redis, *, prefix: str, window_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.window_s = window_s

    def bucket(self, scope: str, value: str, limit: int) -> Bucket:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return Bucket(scope, f"{self.prefix}:{scope}:{digest}", limit)

    async def retry_after(self, buckets: list[Bucket]) -> int | None:
        """Seconds until the caller may try again, or None when not throttled.

        Redis being down fails open (logged and counted): argon2's cost still slows a
        guesser, and refusing every login during a Redis outage would take the whole
        portal down with it, service tokens included.
        """
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for b in buckets:
                    pipe.get(b.key)
                    pipe.pttl(b.key)
                results = await pipe.execute()
        except (RedisError, OSError):
            THROTTLE_ERRORS.inc()
            log.warning("throttle check skipped: Redis unavailable")
            return None
        wait: int | None = None
        for i, b in enumerate(buckets):
            count, pttl = results[2 * i], results[2 * i + 1]
            if count is not None and int(count) >= b.limit:
                THROTTLED.labels(b.scope).inc()
                seconds = max(1, math.ceil(pttl / 1000)) if pttl and pttl > 0 else self.window_s
                wait = max(wait or 0, seconds)
        return wait

    async def record_failure(self, buckets: list[Bucket]) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for b in buckets:
                    # NX: only the first failure opens the window; later ones don't extend it.
                    pipe.set(b.key, 0, ex=self.window_s, nx=True)
                    pipe.incr(b.key)
                await pipe.execute()
        except (RedisError, OSError):
            THROTTLE_ERRORS.inc()
            log.warning("throttle failure not recorded: Redis unavailable")

    async def reset(self, bucket: Bucket) -> None:
        try:
            await self.redis.delete(bucket.key)
        except (RedisError, OSError):
            THROTTLE_ERRORS.inc()
