"""Soak: the outbox relay and the consumer path at a fixed rate for a long time.

    uv run python bench/soak.py [--minutes 30] [--rate N] [--db sqlite|postgres]

A producer commits CloudEvents into an outbox at ``--rate`` events/s (default: half the
consumer capacity, measured first with 10,000 events); ``OutboxRelay`` publishes them to a
6-partition topic; ``EventConsumer`` applies them (inbox check, one effect row per event,
inbox rows, commit, offset commit). Every ``--sample-s`` seconds it samples the process's
RSS and the latency of each event from its CloudEvent ``time`` (set when it was written to
the outbox) to the commit of its effect. At the end the producer stops and the outbox and
the group's lag must drain to zero.

Verdict (after ``--warmup-min``, 5 by default): RSS growth from the first to the last sample < 10 %;
p99 latency of the last 5 minutes within 1.5x of the first 5 (windows of a third of the
run when it is shorter than 15 minutes); outbox and lag zero at the end. Needs Kafka (and
PostgreSQL for --db postgres). Not part of ``make test``: ``make soak``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).parent))
from throughput import (
    ADMIN,
    BOOTSTRAP,
    InsertEffect,
    delete_topics,
    effects_table,
    make_topic,
)

from contracts.envelope import CloudEvent, new_event
from contracts.events.identity import CustomerTerminatedV1
from servicekit.consumer import EventConsumer, EventHandlers, probe_group_lag
from servicekit.db import Database, new_metadata
from servicekit.outbox import OutboxRelay
from servicekit.testing import drop_database, fresh_database_url, use_postgres


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Histogram:
    """Latencies in buckets 1 % wide (a soak at 1,700 events/s for 30 minutes would
    otherwise keep three million floats, and the script's own memory would be what the
    RSS verdict measures)."""

    STEP = math.log(1.01)

    def __init__(self, values: Sequence[float] = ()) -> None:
        self.counts: Counter[int] = Counter(self._bucket(v) for v in values)

    @classmethod
    def _bucket(cls, ms: float) -> int:
        return int(math.log(max(ms, 0.01)) / cls.STEP)

    @classmethod
    def merged(cls, parts: Sequence[Histogram]) -> Histogram:
        out = cls()
        for part in parts:
            out.counts.update(part.counts)
        return out

    def pct(self, q: float) -> float:
        """The ``q`` quantile, to the bucket's upper bound (within 1 %)."""
        total = sum(self.counts.values())
        if not total:
            return float("nan")
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen > q * total:
                return math.exp((bucket + 1) * self.STEP)
        return math.exp((max(self.counts) + 1) * self.STEP)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Timed(InsertEffect):
    """The benchmark's effect, noting each event's time; latencies are taken when the
    consumer's transaction commits (``Database.on_write_commit``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: list[datetime] = []
        self.latencies: list[float] = []

    async def __call__(self, session: AsyncSession, event: CloudEvent, payload: Any) -> None:
        await super().__call__(session, event, payload)
        self.pending.append(event.time)

    async def _apply_many(
        self, session: AsyncSession, items: Sequence[tuple[CloudEvent, Any]]
    ) -> None:
        await super()._apply_many(session, items)
        self.pending.extend(e.time for e, _ in items)

    def committed(self) -> None:
        now = datetime.now(UTC)
        self.latencies.extend((now - t).total_seconds() for t in self.pending)
        self.pending.clear()


async def produce(db: Database, topic: str, rate: float, stop: asyncio.Event) -> int:
    """Commit ``rate`` events/s into the outbox, in ticks of 100 ms."""
    customers = [uuid.uuid4() for _ in range(200)]
    written = 0
    started = time.perf_counter()
    while not stop.is_set():
        # At most 5,000 per tick: with a rate beyond capacity (the capacity run) the
        # producer writes as fast as it can without building one huge transaction.
        due = min(int((time.perf_counter() - started) * rate) - written, 5000)
        if due > 0:
            rows = []
            for _ in range(due):
                c = customers[written % len(customers)]
                now = datetime.now(UTC)
                ev = new_event(
                    CustomerTerminatedV1(
                        customer_id=c, by="customer", effective_on=now.date(), terminated_at=now
                    ),
                    source="/services/soak",
                )
                rows.append(
                    {
                        "event_id": ev.id,
                        "topic": topic,
                        "key": str(c),
                        "value": ev.to_bytes(),
                        "headers": {"content-type": "application/cloudevents+json"},
                    }
                )
                written += 1
            async with db.transaction() as s:
                await s.execute(db.outbox.insert(), rows)
        await asyncio.sleep(0.1)
    return written


async def capacity(kind: str, seconds: float = 60.0) -> float:
    """What the whole pipeline of this script sustains: the producer writing as fast as it
    can, the relay and the consumer, in this one process, for ``seconds``; the rate of
    applied events after the first quarter (warm-up). The soak runs at half of it."""
    result = await pipeline(
        rate=1e9, minutes=seconds / 60, sample_s=seconds / 4, verbose=False, drain=False
    )
    first, last = result.samples[0], result.samples[-1]
    return (last[2] - first[2]) / ((last[0] - first[0]) * 60)


@dataclass
class Result:
    samples: list[tuple[float, float, int, float, float, float]]
    windows: list[tuple[float, Histogram]]
    written: int
    done: int
    outbox: int
    lag: int


async def pipeline(
    *, rate: float, minutes: float, sample_s: float, verbose: bool = True, drain: bool = True
) -> Result:
    """Producer -> outbox -> relay -> topic -> consumer -> effects, at ``rate`` for
    ``minutes``; samples every ``sample_s``; then (``drain``) waits at most 120 s for the
    outbox and the lag to reach zero."""
    written = 0
    topic = await make_topic("soak")
    prefix = topic.removesuffix(CustomerTerminatedV1.event_type)
    md_out, md_in = new_metadata(), new_metadata()
    url_out, url_in = await fresh_database_url("soak"), await fresh_database_url("soak")
    producer_db, consumer_db = Database(url_out, md_out), Database(url_in, md_in)
    effects = effects_table(md_in)
    for db in (producer_db, consumer_db):
        async with db.engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
    effect = Timed(effects, batched=True)
    consumer_db.on_write_commit(effect.committed)
    group = f"soak-{uuid.uuid4().hex}"
    relay = OutboxRelay(producer_db, service="soak", bootstrap=BOOTSTRAP, security=ADMIN)
    consumer = EventConsumer(
        consumer_db,
        service="billing",
        group_id=group,
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers=EventHandlers({CustomerTerminatedV1: effect}, topic_prefix=prefix),
    )
    await relay.start()
    await consumer.start()
    stop = asyncio.Event()
    producing = asyncio.create_task(produce(producer_db, topic, rate, stop))

    samples: list[tuple[float, float, int, float, float, float]] = []
    windows: list[tuple[float, Histogram]] = []  # (minute, latencies of the interval)
    if verbose:
        print(f"{'min':>6}{'RSS MiB':>10}{'applied':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    started = time.perf_counter()
    applied = 0
    try:
        while (elapsed := time.perf_counter() - started) < minutes * 60:
            await asyncio.sleep(min(sample_s, minutes * 60 - elapsed))
            lat, effect.latencies = effect.latencies, []
            applied += len(lat)
            minute = (time.perf_counter() - started) / 60
            ms = [x * 1000 for x in lat]
            row = (minute, rss_mib(), applied, pct(ms, 0.5), pct(ms, 0.99), max(ms or [0]))
            samples.append(row)
            windows.append((minute, Histogram(ms)))
            del lat, ms
            if verbose:
                print(
                    f"{row[0]:>6.1f}{row[1]:>10.1f}{row[2]:>10}{row[3]:>9.1f}{row[4]:>9.1f}"
                    f"{row[5]:>9.1f}",
                    flush=True,
                )
        stop.set()
        written = await producing
        # Drain: everything written is published, applied and its offsets committed.
        deadline = time.perf_counter() + 120
        outbox = lag_total = done = -1
        while drain and time.perf_counter() < deadline:
            async with producer_db.sessions() as s:
                outbox = (
                    await s.execute(select(func.count()).select_from(producer_db.outbox))
                ).scalar() or 0
            async with consumer_db.sessions() as s:
                done = (await s.execute(select(func.count()).select_from(effects))).scalar()
            lag_total = sum(
                (await probe_group_lag(BOOTSTRAP, group, "soak", security=ADMIN)).values()
            )
            if outbox == 0 and lag_total == 0 and done == written:
                break
            await asyncio.sleep(1)
    finally:
        stop.set()
        await consumer.stop()
        await relay.stop()
        for db, url in ((producer_db, url_out), (consumer_db, url_in)):
            await db.dispose()
            await drop_database(url)
        await delete_topics([topic])

    return Result(samples, windows, written, done or 0, outbox, lag_total)


async def main(args: argparse.Namespace) -> int:
    if args.db == "postgres":
        use_postgres()
    else:
        os.environ.pop("TEST_POSTGRES_URL", None)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rate = args.rate
    if not rate:
        cap = await capacity(args.db)
        rate = cap / 2
        print(f"capacity (producer + relay + consumer, {args.db}): {cap:.0f}/s; rate: {rate:.0f}/s")
    print(f"soak: {args.minutes} min at {rate:.0f} events/s on {args.db}", flush=True)

    result = await pipeline(rate=rate, minutes=args.minutes, sample_s=args.sample_s)
    samples, windows = result.samples, result.windows
    outbox, lag_total, done, written = result.outbox, result.lag, result.done, result.written

    after = [s for s in samples if s[0] > args.warmup_min]
    span = max(1.0, min(5.0, (args.minutes - args.warmup_min) / 3))
    late = [w for m, w in windows if m > args.minutes - span]
    early = [w for m, w in windows if args.warmup_min < m <= args.warmup_min + span]
    p99_early = Histogram.merged(early).pct(0.99)
    p99_late = Histogram.merged(late).pct(0.99)
    growth = (after[-1][1] / after[0][1] - 1) if len(after) >= 2 else float("nan")
    checks = [
        (f"RSS growth {growth * 100:+.1f} % (< 10 %)", growth < 0.10),
        (
            f"p99 latency last {span:.0f} min {p99_late:.0f} ms vs first {span:.0f} min after "
            f"warm-up {p99_early:.0f} ms (ratio {p99_late / p99_early:.2f}, <= 1.5)",
            p99_late <= 1.5 * p99_early,
        ),
        (f"outbox at the end: {outbox} rows", outbox == 0),
        (f"consumer lag at the end: {lag_total}", lag_total == 0),
        (f"applied {done} of {written} written", done == written),
    ]
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    verdict = all(ok for _, ok in checks)
    print("verdict:", "PASS" if verdict else "FAIL")
    return 0 if verdict else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=0, help="events/s; 0: half capacity")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sample-s", type=float, default=60)
    # The first minutes fill the connection pools, SQLite's page caches and Python's
    # allocator arenas: measured 218 -> 240 MiB over minutes 1-4 of a 30-minute soak,
    # then +0.2 MiB a minute (docs/benchmarks.md). Growth is judged after that.
    parser.add_argument("--warmup-min", type=float, default=5)
    sys.exit(asyncio.run(main(parser.parse_args())))
