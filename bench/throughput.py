"""Throughput of the outbox relay and the consumer path, each against raw aiokafka.

    uv run python bench/throughput.py [--events 20000] [--db postgres|sqlite|both]

Relay: rows already committed in the outbox → acknowledged Kafka writes → rows deleted.
Consumer: receive → parse CloudEvent → inbox check → effect row → commit → offset commit.
Raw: aiokafka idempotent producer (acks=all) sending the same payloads, and a consumer
reading them, on the same broker, in the same run. Needs Kafka (and PostgreSQL for
--db postgres): `deploy/local/infra.sh up`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import ARRAY, Column, MetaData, String, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import CloudEvent, new_event, parse_data
from contracts.events.identity import CustomerTerminatedV1
from servicekit.consumer import DEFAULT_MAX_BATCH, EventConsumer, EventHandlers
from servicekit.db import Database, new_metadata
from servicekit.kafka import admin_security
from servicekit.outbox import OutboxRelay
from servicekit.testing import drop_database, fresh_database_url, use_postgres

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
PARTITIONS = 6


async def make_topic(prefix: str) -> str:
    # Ends with the catalogue topic, so a consumer can subscribe with a topic prefix.
    name = f"bench.{prefix}.{uuid.uuid4().hex[:8]}.{CustomerTerminatedV1.event_type}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()
    return name


async def delete_topics(names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def events(n: int) -> list[tuple[bytes, bytes]]:
    customers = [uuid.uuid4() for _ in range(200)]
    out = []
    now = datetime.now(UTC)
    for i in range(n):
        c = customers[i % len(customers)]
        ev = new_event(
            CustomerTerminatedV1(
                customer_id=c, by="customer", effective_on=now.date(), terminated_at=now
            ),
            source="/services/bench",
        )
        out.append((str(c).encode(), ev.to_bytes()))
    return out


async def raw_produce(topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k) for k, v in payloads]
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"bench-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            if started is None and batch:
                started = time.perf_counter()
            for tp, records in batch.items():
                seen += len(records)
                await consumer.commit({tp: records[-1].offset + 1})
        assert started is not None
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def relay_throughput(url: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    md = new_metadata()
    db = Database(url, md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    async with db.transaction() as s:
        for i in range(0, len(payloads), 1000):
            await s.execute(
                db.outbox.insert(),
                [
                    {
                        "event_id": str(uuid.uuid4()),
                        "topic": topic,
                        "key": k.decode(),
                        "value": v,
                        "headers": {"content-type": "application/cloudevents+json"},
                    }
                    for k, v in payloads[i : i + 1000]
                ],
            )
    relay = OutboxRelay(db, service="bench", bootstrap=BOOTSTRAP, security=ADMIN, batch_size=2000)
    await relay._ensure_producer()  # connect first: measure publishing, not connecting
    started = time.perf_counter()
    published = 0
    while published < len(payloads):
        published += await relay.publish_once()
    elapsed = time.perf_counter() - started
    await relay.stop()
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 0
    await db.dispose()
    await drop_database(url)
    return len(payloads) / elapsed


def effects_table(md: MetaData) -> Table:
    return Table(
        "effects",
        md,
        Column("event_id", String(64), primary_key=True),
        Column("customer_id", String(64)),
    )


class InsertEffect:
    """The benchmark's effect: one row inserted per event. Called per event, as before;
    ``batched`` also gives it the optional batch form (``BatchHandler.apply_many``): the
    same rows, inserted with one executemany per run of events."""

    def __init__(self, effects: Table, *, batched: bool) -> None:
        self.effects = effects
        if batched:
            self.apply_many = self._apply_many

    async def __call__(self, session: AsyncSession, event: CloudEvent, payload: Any) -> None:
        await session.execute(
            self.effects.insert().values(event_id=event.id, customer_id=str(payload.customer_id))
        )

    async def _apply_many(
        self, session: AsyncSession, items: Sequence[tuple[CloudEvent, Any]]
    ) -> None:
        await session.execute(
            self.effects.insert(),
            [{"event_id": e.id, "customer_id": str(p.customer_id)} for e, p in items],
        )


async def consumer_throughput(url: str, topic: str, n: int, *, batched: bool = True) -> float:
    md = new_metadata()
    effects = effects_table(md)
    db = Database(url, md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    handler = InsertEffect(effects, batched=batched)

    consumer = EventConsumer(
        db,
        service="billing",
        group_id=f"bench-{uuid.uuid4().hex}",
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers=EventHandlers(
            {CustomerTerminatedV1: handler},
            topic_prefix=topic.removesuffix(CustomerTerminatedV1.event_type),
        ),
    )
    started = time.perf_counter()
    await consumer.start()
    elapsed = await wait_for_effects(db, effects, n, started)
    await consumer.stop()
    await db.dispose()
    await drop_database(url)
    return n / elapsed


async def wait_for_effects(db: Database, effects: Table, n: int, started: float) -> float:
    """Seconds from the first effect row seen until all ``n`` are (polled every 50 ms)."""
    count = 0
    first_at = None
    while count < n:
        await asyncio.sleep(0.05)
        async with db.sessions() as s:
            count = (await s.execute(select(func.count()).select_from(effects))).scalar() or 0
        if count and first_at is None:
            first_at = time.perf_counter()
    return time.perf_counter() - (first_at or started)


async def faststream_throughput(url: str, topic: str, n: int) -> float:
    """A minimal hand-written FastStream 0.7 batch subscriber with manual ack doing the
    same work per batch as ``EventConsumer`` (ADR 4's comparison): parse every CloudEvent,
    one transaction with the inbox check, the effect rows (the same ``apply_many``) and
    the inbox rows, then ``ack()`` (one offset commit for the batch); the same batch size
    (``EventConsumer``'s default ``max_batch``). Since the migration ``EventConsumer`` is a
    FastStream subscriber too: the ratio is the cost of servicekit's policy (retries,
    dead letters, per-partition fallback, metrics, spans) over the bare minimum."""
    from faststream import AckPolicy, FastStream
    from faststream.kafka import KafkaBroker, KafkaMessage

    md = new_metadata()
    effects = effects_table(md)
    db = Database(url, md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    effect = InsertEffect(effects, batched=True)
    group = f"bench-fs-{uuid.uuid4().hex}"
    inbox = db.inbox
    if db.dialect == "postgresql":  # the same inbox query as EventConsumer._seen_query
        ids_t = func.unnest(bindparam("ids", type_=ARRAY(String))).table_valued("id")
        ids_t = ids_t.render_derived()
        seen_q = (
            select(inbox.c.event_id)
            .select_from(ids_t)
            .join(inbox, inbox.c.event_id == ids_t.c.id)
            .where(inbox.c.consumer == group)
        )
    else:
        seen_q = select(inbox.c.event_id).where(
            inbox.c.consumer == group, inbox.c.event_id.in_(bindparam("ids", expanding=True))
        )

    # As the other clients here: the broker's admin over SASL/SCRAM (ADR 24).
    broker = KafkaBroker(BOOTSTRAP, logger=None, security=ADMIN.faststream())

    @broker.subscriber(
        topic,
        batch=True,
        group_id=group,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        max_records=DEFAULT_MAX_BATCH,
    )
    async def on_batch(bodies: list[bytes], msg: KafkaMessage) -> None:
        parsed = []
        for body in bodies:
            event = CloudEvent.from_bytes(body)
            parsed.append((event, parse_data(event)))
        async with db.transaction() as session:
            seen = set(
                (await session.execute(seen_q, {"ids": [e.id for e, _ in parsed]})).scalars()
            )
            new = [(e, p) for e, p in parsed if e.id not in seen]
            if new:
                await effect.apply_many(session, new)
                await session.execute(
                    inbox.insert(),
                    [{"consumer": group, "event_id": e.id, "topic": topic} for e, _ in new],
                )  # multi-row VALUES (servicekit.db), not the consumer's array INSERT
        await msg.ack()

    app = FastStream(broker, logger=None)
    started = time.perf_counter()
    await app.start()
    elapsed = await wait_for_effects(db, effects, n, started)
    await app.stop()
    await db.dispose()
    await drop_database(url)
    return n / elapsed


def row(measure: str, rate: float, raw: float) -> None:
    print(f"{measure:<46}{rate:>10.0f}{rate / raw:>9.2f}", flush=True)


async def main(n: int, which: str) -> None:
    load = os.getloadavg()
    payloads = events(n)
    topics: list[str] = []
    raw_topic = await make_topic("raw")
    topics.append(raw_topic)
    raw_p = await raw_produce(raw_topic, payloads)
    raw_c = await raw_consume(raw_topic, n)
    print("load average before the run: " + " ".join(f"{x:.2f}" for x in load))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; events: {n} of ~{len(payloads[0][1])} bytes"
    )
    print(f"{'measure':<46}{'events/s':>10}{'vs raw':>9}")
    print(f"{'raw aiokafka produce (idempotent, acks=all)':<46}{raw_p:>10.0f}{'1.00':>9}")
    print(f"{'raw aiokafka consume (+ offset commit)':<46}{raw_c:>10.0f}{'1.00':>9}")
    dbs = ["postgres", "sqlite"] if which == "both" else [which]
    for kind in dbs:
        if kind == "postgres":
            use_postgres()
        else:
            os.environ.pop("TEST_POSTGRES_URL", None)
        topic = await make_topic("relay")
        topics.append(topic)
        relay = await relay_throughput(await fresh_database_url("bench"), topic, payloads)
        row("outbox relay (" + kind + ")", relay, raw_p)
        per_event = await consumer_throughput(
            await fresh_database_url("bench"), topic, n, batched=False
        )
        row("consumer, handler per event (" + kind + ")", per_event, raw_c)
        cons = await consumer_throughput(await fresh_database_url("bench"), topic, n)
        row("consumer, handler apply_many (" + kind + ")", cons, raw_c)
        fs = await faststream_throughput(await fresh_database_url("bench"), topic, n)
        row("minimal FastStream subscriber (" + kind + ")", fs, raw_c)
        print(f"{'  servicekit consumer / minimal subscriber':<46}{cons / fs:>10.2f}")
    await delete_topics(topics)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.db))
