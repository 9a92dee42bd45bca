"""CPU time per usage record of billing's ingestion, in this process, without the broker:
what the machine's load does not change much (wall-clock figures on a shared machine do).

    uv run python bench/usage_ingest_cpu.py [--records 20000] [--batch 500] [--profile N]

Two measures on a fresh PostgreSQL database (``TEST_POSTGRES_URL``, else the local one),
each with its own fresh records (``bench/usage_ingestion.py``'s ``payloads``: 100
accounts, voice/SMS/data):

- ``usage.ingest``: the use case alone, one transaction per batch of ``--batch`` records
  (the bulk route's and the consumer's ``apply_many`` work, minus the HTTP/Kafka parts);
- ``consumer``: ``EventConsumer._handle_poll`` on ready-made Kafka records of
  ``--poll`` events spread over 12 partitions (as one poll of the benchmark's topic):
  CloudEvent parse and payload validation, inbox check, ``OnUsageRecords.apply_many``,
  inbox rows, commit. No broker: the offsets are not committed to Kafka.

The input of each batch or poll is made just before it, with the clocks stopped (input made
for all at once stayed in memory, where the collector walked it again and again). Each
measure runs ``--rounds`` times (new records each time, the tables growing): the
best and the median of ``time.process_time()`` of this process per record (PostgreSQL's
own CPU is not included), records/s of wall time, and the load average; ``--profile N``
prints cProfile's top N functions of the ``usage.ingest`` measure. Like the service after
start-up, ``gc.freeze()`` is called before measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
from usage_ingestion import payloads

from billing.deps import Deps
from billing.domain.rating import ExclusionRules
from billing.handlers import OnUsageRecords
from billing.main import MIGRATIONS_DIR
from billing.models import Base, BillingAccount
from billing.service import usage
from billing.service.catalogue import publish_catalogue
from billing.settings import BillingSettings
from contracts.envelope import new_event
from contracts.events.billing import UsageRecordV1
from servicekit.consumer import EventConsumer, EventHandlers
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head
from servicekit.outbox import Outbox
from servicekit.testing import FakeDelegation, drop_database, fresh_database_url, use_postgres

PARTITIONS = 12


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _figures(values: list[float], best: Any = min) -> str:
    each = ", ".join(f"{v:,.0f}" for v in values)
    return f"best {best(values):,.0f}, median {statistics.median(values):,.0f} ({each})"


def _polls(
    topic: str, items: list[UsageRecordV1], poll: int
) -> list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]:
    """The Kafka records of ``items`` as polls of ``poll`` events over 12 partitions."""
    polls = []
    for start in range(0, len(items), poll):
        by_tp: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
        for j, p in enumerate(items[start : start + poll]):
            key = str(p.billing_account_id).encode()
            value = new_event(p, source="/network/bench").to_bytes()
            part = hash(key) % PARTITIONS
            by_tp.setdefault(TopicPartition(topic, part), []).append(
                ConsumerRecord(
                    topic, part, start + j, 0, 0, key, value, None, len(key), len(value), []
                )
            )
        polls.append(by_tp)
    return polls


async def main(n: int, batch: int, poll: int, rounds: int, profile: int) -> None:
    url = await fresh_database_url("bench_usage_cpu")
    db = Database(url, Base.metadata)
    try:
        # The schema as the service builds it at start-up (its migrations).
        await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
        deps = Deps(
            settings=BillingSettings(database_url=url),
            outbox=Outbox(db, source="/services/billing"),
            delegation=FakeDelegation(),
            rules=ExclusionRules(),
        )
        accounts = [uuid.uuid4() for _ in range(100)]
        async with db.transaction() as s:
            for a in accounts:
                s.add(
                    BillingAccount(
                        id=a, customer_id=uuid.uuid4(), kind="mobile", name="b", status="active"
                    )
                )
            await publish_catalogue(s, deps)
        # Warm-up (imports, statement caches, the catalogue cache), not measured.
        async with db.transaction() as s:
            await usage.ingest(s, deps, payloads(batch, accounts))
        # As the service does once started (servicekit.app): what start-up built is out of
        # the collector's sight. Without it full collections cost the consumer measure
        # 30-40 us a record more (a poll's 2,000 parsed events live until its commit).
        gc.collect()
        gc.freeze()

        print(f"load average before: {_load()}")
        prof = cProfile.Profile() if profile else None
        cpus, walls = [], []
        for _ in range(rounds):
            wall = cpu = 0.0
            for _ in range(0, n, batch):
                records = payloads(batch, accounts)  # made while the clocks stand still
                started, cpu_started = time.perf_counter(), time.process_time()
                if prof:
                    prof.enable()
                async with db.transaction() as s:
                    await usage.ingest(s, deps, records)
                if prof:
                    prof.disable()
                cpu += time.process_time() - cpu_started
                wall += time.perf_counter() - started
            del records
            cpus.append(cpu / n * 1e6)
            walls.append(n / wall)
        print(
            f"usage.ingest, {rounds} x {n} records in batches of {batch}: CPU us/record "
            f"{_figures(cpus)}; records/s {_figures(walls, best=max)} "
            f"(load average after: {_load()})"
        )
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(profile)
            pstats.Stats(prof).sort_stats("tottime").print_stats(profile)

        topic = UsageRecordV1.event_type
        consumer = EventConsumer(
            db,
            service="billing",
            group_id=f"bench-{uuid.uuid4().hex}",
            bootstrap="unused:9092",
            handlers=EventHandlers({UsageRecordV1: OnUsageRecords(deps)}),
        )
        cpus, walls = [], []
        for _ in range(rounds):
            wall = cpu = 0.0
            for _ in range(0, n, poll):
                [by_tp] = _polls(topic, payloads(poll, accounts), poll)  # clocks stopped
                started, cpu_started = time.perf_counter(), time.process_time()
                await consumer._handle_poll(by_tp)
                cpu += time.process_time() - cpu_started
                wall += time.perf_counter() - started
            del by_tp
            cpus.append(cpu / n * 1e6)
            walls.append(n / wall)
        print(
            f"consumer (parse, inbox, apply_many, commit), {rounds} x {n} events in polls of "
            f"{poll}: CPU us/record {_figures(cpus)}; records/s {_figures(walls, best=max)} "
            f"(load average after: {_load()})"
        )
    finally:
        await db.dispose()
        await drop_database(url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="records per usage.ingest")
    parser.add_argument("--poll", type=int, default=2_000, help="events per consumer poll")
    parser.add_argument("--rounds", type=int, default=3, help="measures of each kind")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of cProfile")
    args = parser.parse_args()
    use_postgres()
    asyncio.run(main(args.records, args.batch, args.poll, args.rounds, args.profile))
