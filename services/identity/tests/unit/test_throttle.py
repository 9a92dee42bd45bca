"""Failed-login throttling goes on, per instance, while Redis is down."""

from __future__ import annotations

import socket

from redis.asyncio import Redis

from identity.throttle import Throttle


def _unreachable_redis() -> Redis:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    return Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_with_redis_down_failures_are_counted_on_this_instance() -> None:
    clock = Clock()
    throttle = Throttle(_unreachable_redis(), prefix="t", window_s=60, clock=clock)
    account = throttle.bucket("account", "an@example.be", limit=3)
    other = throttle.bucket("account", "bo@example.be", limit=3)
    for _ in range(3):
        assert await throttle.retry_after([account]) is None
        await throttle.record_failure([account])
    wait = await throttle.retry_after([account])
    assert wait is not None and 0 < wait <= 60
    assert await throttle.retry_after([other]) is None  # only that account

    clock.now += 61  # the window is over
    assert await throttle.retry_after([account]) is None


async def test_a_successful_login_resets_the_local_window_too() -> None:
    throttle = Throttle(_unreachable_redis(), prefix="t", window_s=60, clock=Clock())
    account = throttle.bucket("account", "an@example.be", limit=2)
    await throttle.record_failure([account])
    await throttle.record_failure([account])
    assert await throttle.retry_after([account])
    await throttle.reset(account)
    assert await throttle.retry_after([account]) is None


def test_the_local_table_stays_bounded() -> None:
    throttle = Throttle(_unreachable_redis(), prefix="t", window_s=60)
    throttle.local.max_keys = 10
    buckets = [throttle.bucket("ip", f"10.0.0.{i}", limit=5) for i in range(50)]
    for b in buckets:
        throttle.local.record_failure([b], now=0.0)
    assert len(throttle.local._windows) == 10
