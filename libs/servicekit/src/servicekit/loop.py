"""``BackgroundLoop``: the one start/stop/sleep/wake/backoff skeleton for background work.

The outbox relay, the consumer's reconnect loop, the notifier's sender, billing's worker
and every ``kit.run_periodically`` job are this loop around a different *pass*::

    async def work() -> bool:  # True: more is due at once, run again without waiting
        ...

    loop = BackgroundLoop("outbox-relay-billing", work, interval_s=0.5)
    loop.start()
    loop.wake()             # something changed: run a pass now (if idle)
    await loop.stop(15.0)   # let the pass in flight finish, at most 15 s, then cancel

Rules:

- after a pass that returns falsy the loop waits ``interval_s`` (or until ``wake()``);
  after a truthy one it runs again at once;
- a pass that raises is logged and counted (``background_loop_failures_total{loop}``),
  ``on_error`` runs, and the loop waits ``backoff_initial_s``, doubling per consecutive
  failure up to ``backoff_max_s``; one successful pass resets it;
- ``wake()`` is ignored during that error backoff: during a broker outage every commit
  would otherwise cut the backoff short and retry at once;
- an exception never ends the loop; only ``stop()`` (or cancelling its task) does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from opentelemetry import trace
from opentelemetry.context import Context
from prometheus_client import Counter

from servicekit.telemetry import tracer

log = logging.getLogger(__name__)

LOOP_FAILURES = Counter(
    "background_loop_failures_total", "Failed passes of a background loop", ["loop"]
)

Work = Callable[[], Awaitable[bool | None]]
ErrorHook = Callable[[Exception], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

# After the stop deadline the task is cancelled; this is how long we then wait for it to
# unwind (roll back, close a connection) before giving up on it.
_CANCEL_GRACE_S = 2.0


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        work: Work,
        *,
        interval_s: float,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        expected_errors: tuple[type[BaseException], ...] = (),
        on_error: ErrorHook | None = None,
        span_name: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``expected_errors`` (e.g. the broker being away) are logged as one-line
        warnings; anything else with its traceback. ``span_name``: each pass runs in its
        own root span of that name. ``sleep`` is injectable for tests."""
        self.name = name
        self.work = work
        self.interval_s = interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = max(backoff_max_s, backoff_initial_s)
        self.expected_errors = expected_errors
        self.on_error = on_error
        self.span_name = span_name
        self._sleep = sleep
        self._stopping = asyncio.Event()
        self._interrupt = asyncio.Event()  # set by wake() (unless backing off) and stop()
        self._backing_off = False
        self._in_pass = False
        self._backoff = backoff_initial_s
        self._task: asyncio.Task[None] | None = None

    # -- state -----------------------------------------------------------------------

    @property
    def stopping(self) -> asyncio.Event:
        """Set once ``stop()`` was called: a long pass should wind down when it sees it."""
        return self._stopping

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def backing_off(self) -> bool:
        return self._backing_off

    # -- control ---------------------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._interrupt.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the next pass now if the loop is idle (or right after the pass in flight).
        Ignored during error backoff."""
        if not self._backing_off:
            self._interrupt.set()

    async def stop(self, deadline_s: float = 10.0) -> bool:
        """Ask the loop to stop, wait up to ``deadline_s`` for the pass in flight, then
        cancel it. Never raises; returns whether the loop ended within the deadline."""
        self._stopping.set()
        self._interrupt.set()
        task = self._task
        if task is None or task.done():
            return True
        # An idle loop ends as soon as it sees the stop; only a pass needs the deadline.
        timeout = max(deadline_s, 0) if self._in_pass else max(deadline_s, _CANCEL_GRACE_S)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            _consume(task)
            return True
        log.warning("%s did not finish within %.1fs; cancelling it", self.name, deadline_s)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=_CANCEL_GRACE_S)
        if done:
            _consume(task)
        else:
            log.error("%s ignored its cancellation", self.name)
        return False

    def reset_backoff(self) -> None:
        """For a long pass (a consumer session): it has got going, so a failure ending it
        later backs off from the start again."""
        self._backoff = self.backoff_initial_s

    async def sleep(self, seconds: float) -> None:
        """Sleep inside a pass; returns early once ``stop()`` was called."""
        await self._pause(seconds, self._stopping)

    # -- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        self._backoff = self.backoff_initial_s
        while not self._stopping.is_set():
            self._interrupt.clear()  # a wake during the pass below still counts
            self._in_pass = True
            try:
                more = await self._pass()
            except Exception as exc:
                LOOP_FAILURES.labels(self.name).inc()
                await self._failed(exc, self._backoff)
                failed = True
            else:
                failed = False
            finally:
                self._in_pass = False
            if failed:
                if self._stopping.is_set():
                    return
                await self._back_off()
            elif more:
                self._backoff = self.backoff_initial_s
                await asyncio.sleep(0)  # let others run between back-to-back passes
            else:
                self._backoff = self.backoff_initial_s
                await self._pause(self.interval_s, self._interrupt)

    async def _back_off(self) -> None:
        backoff = self._backoff
        self._backing_off = True
        self._interrupt.clear()  # wakes before or during the failure do not shorten it
        try:
            await self._pause(backoff, self._interrupt)  # only stop() sets it now
        finally:
            self._backing_off = False
        self._backoff = min(backoff * 2, self.backoff_max_s)

    async def _pass(self) -> bool:
        try:
            if self.span_name is None:
                return bool(await self.work())
            with tracer().start_as_current_span(
                self.span_name,
                context=Context(),  # a root span per pass, not a child of whoever started us
                kind=trace.SpanKind.INTERNAL,
                attributes={"job.name": self.name},
            ):
                return bool(await self.work())
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled (stop's deadline passed)
            # A CancelledError leaking out of a library is a failed pass, not our end.
            raise RuntimeError("pass raised CancelledError") from exc

    async def _failed(self, exc: Exception, backoff: float) -> None:
        if isinstance(exc, self.expected_errors):
            log.warning("%s failed, retrying in %.1fs: %r", self.name, backoff, exc)
        else:
            log.exception("%s failed, retrying in %.1fs", self.name, backoff, exc_info=exc)
        if self.on_error is not None:
            try:
                await self.on_error(exc)
            except Exception:
                log.exception("%s: error hook failed", self.name)

    async def _pause(self, seconds: float, interrupt: asyncio.Event) -> None:
        """Wait ``seconds`` or until ``interrupt`` is set, whichever comes first."""
        if interrupt.is_set() or seconds <= 0:
            return
        timer = asyncio.ensure_future(self._sleep(seconds))
        waiter = asyncio.ensure_future(interrupt.wait())
        try:
            await asyncio.wait({timer, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (timer, waiter):
                f.cancel()
            await asyncio.gather(timer, waiter, return_exceptions=True)


def _consume(task: asyncio.Task[None]) -> None:
    """Read a finished task's outcome so asyncio does not warn it was never retrieved."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background loop ended with an error", exc_info=exc)


__all__ = ["LOOP_FAILURES", "BackgroundLoop"]
