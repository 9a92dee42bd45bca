"""BackgroundLoop: wake-ups, backoff, "more work", stop deadline, errors, spans.

Time is a fake clock (the loop's injectable ``sleep``): a test decides when a sleep ends,
so nothing here depends on how fast the machine is. ``eventually`` only bounds how long
a test may hang when it is broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from servicekit import loop as loop_module
from servicekit.loop import BackgroundLoop


class FakeClock:
    """Sleeps last until the test ends them (``release``) or return at once (``auto``)."""

    def __init__(self, *, auto: bool = False) -> None:
        self.auto = auto
        self.requested: list[float] = []
        self._pending: list[asyncio.Future[None]] = []

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        if self.auto:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        try:
            await fut
        finally:
            self._pending.remove(fut)

    @property
    def sleeping(self) -> int:
        return len(self._pending)

    def release(self) -> None:
        for fut in self._pending:
            if not fut.done():
                fut.set_result(None)


async def eventually(condition: Callable[[], bool], limit_s: float = 5.0) -> None:
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110 - polls plain state, there is no event
            await asyncio.sleep(0.001)


async def settle(ticks: int = 50) -> None:
    """Give the loop plenty of chances to run (it must not, in the tests that use this)."""
    for _ in range(ticks):
        await asyncio.sleep(0)


class Script:
    """A pass that follows a script: True/False is returned, an exception raised. When
    the script runs out the pass blocks until the test ends."""

    def __init__(self, *steps: bool | BaseException) -> None:
        self.steps = list(steps)
        self.passes = 0
        self._forever = asyncio.Event()

    async def __call__(self) -> bool:
        self.passes += 1
        if not self.steps:
            await self._forever.wait()
            return False
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


def _loop(work: Callable[[], Awaitable[bool | None]], clock: FakeClock, **kw: object):
    options: dict[object, object] = {
        "interval_s": 60.0,
        "backoff_initial_s": 1.0,
        "backoff_max_s": 4.0,
        "sleep": clock.sleep,
    }
    options.update(kw)
    return BackgroundLoop("test-loop", work, **options)  # type: ignore[arg-type]


async def test_wake_runs_a_pass_early_when_idle():
    clock = FakeClock()
    passes = 0

    async def work() -> bool:
        nonlocal passes
        passes += 1
        return False

    loop = _loop(work, clock)
    loop.start()
    await eventually(lambda: passes == 1 and clock.sleeping == 1)  # idle, 60 s to go
    loop.wake()
    await eventually(lambda: passes == 2)  # the clock never released that 60 s sleep
    await loop.stop(1.0)


async def test_a_wake_during_the_pass_runs_the_next_pass_at_once():
    clock = FakeClock()
    in_pass, go_on = asyncio.Event(), asyncio.Event()
    passes = 0

    async def work() -> bool:
        nonlocal passes
        passes += 1
        if passes == 1:
            in_pass.set()
            await go_on.wait()
        return False

    loop = _loop(work, clock)
    loop.start()
    await in_pass.wait()
    loop.wake()  # e.g. a commit while the relay is publishing
    go_on.set()
    await eventually(lambda: passes == 2)
    # The clock never released a sleep: pass 2 followed pass 1 at once (at most the
    # sleep after pass 2 has begun).
    assert len(clock.requested) <= 1
    await loop.stop(1.0)


async def test_a_wake_during_error_backoff_does_not_shorten_it():
    clock = FakeClock()
    work = Script(ConnectionError("broker down"), False)
    loop = _loop(work, clock)
    loop.start()
    await eventually(lambda: loop.backing_off and clock.sleeping == 1)
    for _ in range(5):  # every commit during an outage wakes the relay
        loop.wake()
        await settle()
    assert work.passes == 1
    assert loop.backing_off
    clock.release()  # the backoff runs out
    await eventually(lambda: work.passes == 2)
    await loop.stop(1.0)


async def test_backoff_doubles_up_to_the_cap_and_resets_after_a_success():
    clock = FakeClock(auto=True)
    boom = RuntimeError("boom")
    work = Script(boom, boom, boom, boom, False, boom, boom)
    loop = _loop(work, clock, interval_s=60.0, backoff_initial_s=1.0, backoff_max_s=4.0)
    loop.start()
    await eventually(lambda: work.passes == 8)  # the script is used up
    await loop.stop(0.1)
    #                           4 failures    success  2 failures (reset)
    assert clock.requested == [1.0, 2.0, 4.0, 4.0, 60.0, 1.0, 2.0]


async def test_more_work_runs_the_next_pass_without_waiting():
    clock = FakeClock()
    work = Script(True, True, True, False)
    loop = _loop(work, clock)
    loop.start()
    await eventually(lambda: clock.sleeping == 1)
    assert work.passes == 4
    assert clock.requested == [60.0]  # only after the pass that said "no more"
    await loop.stop(1.0)


async def test_stop_waits_for_the_pass_in_flight():
    clock = FakeClock()
    started, release = asyncio.Event(), asyncio.Event()
    finished = False

    async def work() -> bool:
        nonlocal finished
        started.set()
        await release.wait()
        finished = True
        return False

    loop = _loop(work, clock)
    loop.start()
    await started.wait()
    stopping = asyncio.create_task(loop.stop(30.0))
    await settle()
    assert not stopping.done()  # still waiting for the pass
    assert loop.stopping.is_set()
    release.set()
    assert await stopping is True
    assert finished and not loop.running
    assert clock.requested == []  # it did not go on to sleep, nor start another pass


async def test_stop_cancels_the_pass_after_the_deadline_and_never_raises():
    clock = FakeClock()
    started = asyncio.Event()
    cancelled = False

    async def work() -> bool:
        nonlocal cancelled
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes by itself
        except asyncio.CancelledError:
            cancelled = True
            raise RuntimeError("cleanup failed too") from None
        return False

    loop = _loop(work, clock)
    loop.start()
    await started.wait()
    assert await loop.stop(0.01) is False
    assert cancelled and not loop.running


async def test_stop_of_an_idle_or_unstarted_loop():
    clock = FakeClock()
    never = _loop(Script(False), clock)
    assert await never.stop(0) is True

    work = Script(False)
    idle = _loop(work, clock)
    idle.start()
    await eventually(lambda: clock.sleeping == 1)
    assert await idle.stop(0) is True  # the stop ends its sleep; nothing to cancel
    assert not idle.running and work.passes == 1


async def test_an_exception_never_kills_the_loop():
    clock = FakeClock(auto=True)
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)
        raise ValueError("the hook fails as well")

    class LeakedCancel(asyncio.CancelledError):
        pass

    work = Script(RuntimeError("bug"), KeyError("x"), ConnectionError("down"), LeakedCancel(), True)
    loop = _loop(work, clock, on_error=on_error, expected_errors=(ConnectionError,))
    before = REGISTRY.get_sample_value("background_loop_failures_total", {"loop": "test-loop"})
    loop.start()
    await eventually(lambda: work.passes == 6)
    assert loop.running
    assert [type(e) for e in errors] == [RuntimeError, KeyError, ConnectionError, RuntimeError]
    after = REGISTRY.get_sample_value("background_loop_failures_total", {"loop": "test-loop"})
    assert (after or 0) - (before or 0) == 4
    await loop.stop(0.01)


async def test_sleep_inside_a_pass_ends_at_stop():
    clock = FakeClock()
    slept = asyncio.Event()

    async def work() -> bool:
        await loop.sleep(3600)  # e.g. the consumer's retry delay
        slept.set()
        return False

    loop = _loop(work, clock)
    loop.start()
    await eventually(lambda: clock.sleeping == 1)
    assert await loop.stop(30.0) is True
    assert slept.is_set()


async def test_each_pass_of_a_scheduled_job_has_its_own_span(monkeypatch: pytest.MonkeyPatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(loop_module, "tracer", lambda name="servicekit": provider.get_tracer(name))
    clock = FakeClock(auto=True)
    work = Script(True, RuntimeError("boom"), False)
    loop = _loop(work, clock, span_name="retention")
    loop.start()
    await eventually(lambda: work.passes == 4)
    await loop.stop(0.01)
    spans = [s for s in exporter.get_finished_spans() if s.name == "retention"]
    assert len(spans) >= 3
    assert len({s.context.trace_id for s in spans}) == len(spans)  # each its own trace
    assert all(s.parent is None for s in spans)
    assert [s.status.is_ok for s in spans[:3]] == [True, False, True]


async def test_relay_commits_during_a_broker_outage_do_not_make_a_producer_each(
    monkeypatch: pytest.MonkeyPatch,
):
    """The defect this loop fixed: every commit woke the relay out of its backoff and it
    built (and failed to start) a new producer per commit."""
    from aiokafka.errors import KafkaConnectionError

    from servicekit import outbox as outbox_module
    from servicekit.db import Database, new_metadata
    from servicekit.outbox import OutboxRelay

    made = 0

    class DeadProducer:
        async def start(self) -> None:
            raise KafkaConnectionError("broker down")

        async def stop(self) -> None:
            pass

    def dead_producer(*_a: object, **_kw: object) -> DeadProducer:
        nonlocal made
        made += 1
        return DeadProducer()

    monkeypatch.setattr(outbox_module, "kafka_producer", dead_producer)
    db = Database("sqlite+aiosqlite:///:memory:", new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    async with db.transaction() as session:
        await session.execute(db.outbox.insert().values(event_id="e1", topic="t", value=b"{}"))
    relay = OutboxRelay(db, service="unit", bootstrap="unused:9092")
    clock = FakeClock()
    relay._loop._sleep = clock.sleep  # the backoff ends only when the test says so
    await relay.start()
    try:
        await eventually(lambda: relay._loop.backing_off and clock.sleeping == 1)
        for _ in range(10):  # requests keep committing during the outage
            async with db.transaction():
                pass
        await settle()
        assert made == 1
        clock.release()
        await eventually(lambda: made == 2)  # the backoff ran out: one more attempt
    finally:
        await relay.stop()
        await db.dispose()
