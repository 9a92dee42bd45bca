"""The runtime metrics: collector pauses and event-loop lag are observed."""

from __future__ import annotations

import asyncio
import gc
import time

from prometheus_client import REGISTRY

from servicekit.runtime import watch_gc, watch_runtime


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_full_collection_is_observed_once() -> None:
    watch_gc()
    watch_gc()  # installed once, however often it is asked
    before = _count("python_gc_pause_seconds_count", generation="2")
    gc.collect()
    gc.collect()
    assert _count("python_gc_pause_seconds_count", generation="2") == before + 2


async def test_a_callback_holding_the_loop_shows_as_lag() -> None:
    stop = watch_runtime(interval_s=0.01)
    try:
        await asyncio.sleep(0.03)
        before_count = _count("event_loop_lag_seconds_count")
        before_slow = before_count - _count("event_loop_lag_seconds_bucket", le="0.05")
        time.sleep(0.12)  # noqa: ASYNC251 (the point: hold the loop; the probe fires ~110 ms late)
        await asyncio.sleep(0.05)
        after_count = _count("event_loop_lag_seconds_count")
        after_slow = after_count - _count("event_loop_lag_seconds_bucket", le="0.05")
    finally:
        stop()
    assert after_count > before_count
    assert after_slow >= before_slow + 1  # a loaded machine may add its own
