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
import time
from collections.abc import Callable
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


class LocalWindows:
    """The same fixed windows in this process's memory: the fallback while Redis is down.

    Each identity instance then counts on its own, so a guesser spreading attempts over
    N instances gets up to N times the limit — still bounded, unlike no throttling. The
    table is bounded too: expired windows are dropped, and past ``max_keys`` the oldest.
    """

    def __init__(self, window_s: int, *, max_keys: int = 100_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (failures, ends at)

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        hit = self._windows.get(key)
        if hit is not None and hit[1] <= now:
            del self._windows[key]
            return None
        return hit

    def retry_after(self, buckets: list[Bucket], now: float) -> int | None:
        wait: int | None = None
        for b in buckets:
            hit = self._live(b.key, now)
            if hit is not None and hit[0] >= b.limit:
                THROTTLED.labels(b.scope).inc()
                wait = max(wait or 0, max(1, math.ceil(hit[1] - now)))
        return wait

    def record_failure(self, buckets: list[Bucket], now: float) -> None:
        for b in buckets:
            hit = self._live(b.key, now)
            count, ends = hit if hit is not None else (0, now + self.window_s)
            self._windows[b.key] = (count + 1, ends)
        if len(self._windows) > self.max_keys:
            for key in [k for k, (_, ends) in self._windows.items() if ends <= now]:
                del self._windows[key]
            while len(self._windows) > self.max_keys:
                del self._windows[next(iter(self._windows))]  # oldest first (insertion order)

    def reset(self, bucket: Bucket) -> None:
        self._windows.pop(bucket.key, None)


class Throttle:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        window_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.window_s = window_s
        self.clock = clock
        self.local = LocalWindows(window_s)

    def bucket(self, scope: str, value: str, limit: int) -> Bucket:
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        return Bucket(scope, f"{self.prefix}:{scope}:{digest}", limit)

    async def retry_after(self, buckets: list[Bucket]) -> int | None:
        """Seconds until the caller may try again, or None when not throttled.

        Redis being down must not take logins down with it (service tokens included):
        the check then falls back to this instance's own windows (logged and counted).
        """
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for b in buckets:
                    pipe.get(b.key)
                    pipe.pttl(b.key)
                results = await pipe.execute()
        except (RedisError, OSError):
            THROTTLE_ERRORS.inc()
            log.warning("throttle check on this instance only: Redis unavailable")
            return self.local.retry_after(buckets, self.clock())
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
            log.warning("throttle failure counted on this instance only: Redis unavailable")
            self.local.record_failure(buckets, self.clock())

    async def reset(self, bucket: Bucket) -> None:
        self.local.reset(bucket)
        try:
            await self.redis.delete(bucket.key)
        except (RedisError, OSError):
            THROTTLE_ERRORS.inc()
