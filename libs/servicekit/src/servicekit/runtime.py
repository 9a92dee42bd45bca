"""What the Python runtime itself costs the requests: collector pauses and event-loop lag.

A request's latency includes time when the process served nobody: a garbage collection
walking the heap, or a callback holding the event loop. Neither shows in a request's span,
both show here:

- ``python_gc_pause_seconds{generation}``: each collection's duration (``gc.callbacks``);
- ``event_loop_lag_seconds``: how late a timer set to fire every ``interval_s`` fired, i.e.
  how long a ready callback could have waited for the loop at that moment.

``watch_runtime()`` installs both (once per process); the lag probe is a task of the
running loop, ended by the returned stop function.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram

_PAUSE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)

GC_PAUSE = Histogram(
    "python_gc_pause_seconds",
    "Duration of each garbage collection, by generation",
    ["generation"],
    buckets=_PAUSE_BUCKETS,
)
LOOP_LAG = Histogram(
    "event_loop_lag_seconds",
    "How late the event loop ran a timer (time a ready callback waited for the loop)",
    buckets=_PAUSE_BUCKETS,
)

_started: list[float] = [0.0]
_pauses = [GC_PAUSE.labels(str(g)) for g in range(3)]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    elif _started[0]:
        _pauses[info["generation"]].observe(time.perf_counter() - _started[0])
        _started[0] = 0.0


def watch_gc() -> None:
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)


async def _probe_lag(interval_s: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        LOOP_LAG.observe(max(0.0, loop.time() - due))


def watch_runtime(interval_s: float = 0.05) -> Callable[[], None]:
    """Collector pauses and event-loop lag as metrics; returns the lag probe's stop."""
    watch_gc()
    task = asyncio.get_running_loop().create_task(_probe_lag(interval_s), name="loop-lag")

    def stop() -> None:
        task.cancel()

    return stop
