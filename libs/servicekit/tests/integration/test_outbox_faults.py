"""Events the broker can never take are set aside, not allowed to block the rest; the
inbox is purged once its entries protect nothing. Real Kafka, real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import func, select

from contracts.envelope import CloudEvent, new_event, parse_data
from contracts.events.identity import CustomerTerminatedV1
from servicekit.db import Database, new_metadata
from servicekit.inbox import inbox_retention, purge_inbox
from servicekit.kafka import admin_security
from servicekit.outbox import EventTooLarge, Outbox, OutboxRelay
from servicekit.parked import list_parked, requeue
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
TOPIC = "customer.terminated"


async def _database() -> Database:
    md = new_metadata()
    db = Database(await fresh_database_url("kit_faults"), md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    return db


def _payload(customer_id: uuid.UUID) -> CustomerTerminatedV1:
    return CustomerTerminatedV1(
        customer_id=customer_id,
        by="customer",
        effective_on=datetime.now(UTC).date(),
        terminated_at=datetime.now(UTC),
    )


async def _event_ids_on_topic(
    key: str, count: int, timeout_s: float = 20.0, *, topic: str = TOPIC
) -> list[str]:
    found = await _values_on_topic(key, count, timeout_s, topic=topic)
    return [headers["event-id"].decode() for _, headers in found]


async def _raw_row(db: Database, *, topic: str, key: str, value: bytes) -> str:
    event_id = str(uuid.uuid4())
    async with db.transaction() as session:
        await session.execute(
            db.outbox.insert().values(
                event_id=event_id,
                topic=topic,
                key=key,
                value=value,
                headers={"event-id": event_id},
            )
        )
    return event_id


async def test_an_event_too_large_is_refused_where_it_is_written_and_changes_nothing() -> None:
    db = await _database()
    try:
        outbox = Outbox(db, source="/services/test", max_event_bytes=200)
        with pytest.raises(EventTooLarge) as refused:
            async with db.transaction() as session:
                await outbox.add(session, _payload(uuid.uuid4()))
        assert refused.value.status == 422
        async with db.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 0
    finally:
        await db.dispose()
        await drop_database(db.url)


async def test_add_many_writes_one_row_per_payload_in_order_with_its_key() -> None:
    db = await _database()
    try:
        outbox = Outbox(db, source="/services/test")
        customers = [uuid.uuid4() for _ in range(3)]
        async with db.transaction() as session:
            events = await outbox.add_many(session, [_payload(c) for c in customers])
        async with db.sessions() as s:
            rows = (
                await s.execute(select(db.outbox.c.event_id, db.outbox.c.key, db.outbox.c.topic))
            ).all()
        assert sorted(rows) == sorted(
            (str(e.id), str(c), TOPIC) for e, c in zip(events, customers, strict=True)
        )
        too_small = Outbox(db, source="/services/test", max_event_bytes=200)
        with pytest.raises(EventTooLarge):
            async with db.transaction() as session:
                await too_small.add_many(session, [_payload(uuid.uuid4())])
        async with db.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 3
    finally:
        await db.dispose()
        await drop_database(db.url)


async def test_unpublishable_events_are_parked_and_the_events_after_them_flow() -> None:
    db = await _database()
    relay = OutboxRelay(db, service="test-parking", bootstrap=BOOTSTRAP, security=ADMIN)
    key = str(uuid.uuid4())
    try:
        first = await _raw_row(db, topic=TOPIC, key=key, value=b'{"n": 1}')
        missing_topic = await _raw_row(
            db, topic=f"no.such.topic.{uuid.uuid4().hex}", key=key, value=b'{"n": 2}'
        )
        too_large = await _raw_row(db, topic=TOPIC, key=key, value=b"x" * 1_200_000)
        last = await _raw_row(db, topic=TOPIC, key=key, value=b'{"n": 4}')

        assert await relay.publish_once() == 4
        assert await relay.publish_once() == 0  # nothing left, nothing re-sent

        assert await _event_ids_on_topic(key, 2) == [first, last]
        async with db.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 0
        parked = {p["event_id"]: p for p in await list_parked(db)}
        assert set(parked) == {missing_topic, too_large}
        assert "does not exist" in parked[missing_topic]["error"]
        assert "TooLarge" in parked[too_large]["error"]

        # Once the cause is fixed an operator requeues them; here the topic still does
        # not exist, so requeueing parks the event again rather than blocking anything.
        assert await requeue(db, [parked[missing_topic]["seq"]]) == 1
        assert await relay.publish_once() == 1
        assert {p["event_id"] for p in await list_parked(db)} == {missing_topic, too_large}
    finally:
        await relay.stop()
        await db.dispose()
        await drop_database(db.url)


async def test_the_inbox_keeps_what_the_topics_retention_can_still_redeliver() -> None:
    db = await _database()
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=9), now - timedelta(days=6)
    try:
        async with db.transaction() as session:
            for i in range(5):
                for consumer, at in (("a", old), ("b", old), ("a", recent)):
                    await session.execute(
                        db.inbox.insert().values(
                            consumer=consumer,
                            event_id=f"{i}-{at:%d}",
                            topic=TOPIC,
                            processed_at=at,
                        )
                    )
        retention = inbox_retention([TOPIC])
        assert timedelta(days=7) < retention <= timedelta(days=8)
        purged = await purge_inbox(db, older_than=now - retention, batch_size=3)
        assert purged == 10
        async with db.sessions() as s:
            left = (await s.execute(select(db.inbox.c.processed_at))).scalars().all()
        assert len(left) == 5 and all(at == recent for at in left)
    finally:
        await db.dispose()
        await drop_database(db.url)


async def _values_on_topic(
    key: str, count: int, timeout_s: float = 20.0, *, topic: str = TOPIC
) -> list[tuple]:
    """What is on ``topic`` for ``key`` (at most ``count`` values, read until ``timeout_s``)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[tuple] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline and len(found) < count:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.value, dict(r.headers)) for r in records if r.key == key.encode()]
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize("database", ["default", "sqlite"])
async def test_add_many_rows_are_new_events_in_order_and_the_relay_publishes_them_unchanged(
    database: str, tmp_path
) -> None:
    """On PostgreSQL the rows go in from arrays (one statement), on SQLite by executemany:
    either way one row per payload in the payloads' order (seq), each value the JSON of a
    CloudEvent around its payload, published by the relay byte for byte."""
    md = new_metadata()
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/outbox.db"
        if database == "sqlite"
        else await fresh_database_url("kit_add_many")
    )
    db = Database(url, md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    relay = OutboxRelay(db, service="test-add-many", bootstrap=BOOTSTRAP, security=ADMIN)
    customer = uuid.uuid4()  # one key: the topic keeps their order
    payloads = [_payload(customer) for _ in range(5)]
    try:
        outbox = Outbox(db, source="/services/test")
        async with db.transaction() as session:
            events = await outbox.add_many(session, payloads)
        async with db.sessions() as s:
            rows = (await s.execute(select(db.outbox).order_by(db.outbox.c.seq))).all()
        assert [r.event_id for r in rows] == [str(e.id) for e in events]
        assert len(events) == 5 and len({e.id for e in events}) == 5
        assert [e.id for e in events[1:3]] == [events[1].id, events[2].id]
        for row, event, payload in zip(rows, events, payloads, strict=True):
            assert (row.topic, row.key) == (TOPIC, str(customer))
            assert row.headers["content-type"] == "application/cloudevents+json"
            assert row.created_at.tzinfo is not None
            parsed = CloudEvent.from_bytes(row.value)
            assert parsed == event
            assert (
                row.value
                == new_event(
                    payload, source="/services/test", event_id=event.id, time=event.time
                ).to_bytes()
            )
            assert parse_data(parsed) == payload
        if database == "sqlite":
            return  # the relay is the same on both; publishing is checked on PostgreSQL
        assert await relay.publish_once() == 5
        published = await _values_on_topic(str(customer), 5)
        assert [value for value, _ in published] == [r.value for r in rows]
        assert all(h["content-type"] == b"application/cloudevents+json" for _, h in published)
    finally:
        await relay.stop()
        await db.dispose()
        await drop_database(db.url)


@asynccontextmanager
async def _throwaway_topic(
    name: str, partitions: int, configs: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A topic of this test's own (``name`` plus a random suffix), deleted afterwards."""
    topic = f"{name}.{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])
        yield topic
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_a_batch_the_broker_refuses_is_sent_again_row_by_row_and_only_the_culprit_parked():
    """The relay sends a partition's rows as one record batch. A topic whose
    ``max.message.bytes`` is below one row's size makes the broker refuse the whole batch;
    the rows are then sent one per batch, so that only the oversized row is parked and the
    others are published once each, in order."""
    async with _throwaway_topic("test.small-messages", 1, {"max.message.bytes": "2000"}) as t:
        await _refused_batch(t)


async def _refused_batch(topic: str) -> None:
    db = await _database()
    relay = OutboxRelay(db, service="test-batch-refused", bootstrap=BOOTSTRAP, security=ADMIN)
    key = str(uuid.uuid4())
    try:
        small = [await _raw_row(db, topic=topic, key=key, value=b'{"n": %d}' % i) for i in range(3)]
        big = await _raw_row(db, topic=topic, key=key, value=b"x" * 3000)
        later = [
            await _raw_row(db, topic=topic, key=key, value=b'{"n": %d}' % i) for i in range(3, 5)
        ]
        # The batch of all six is refused for its size, then sent again row by row: once
        # the big row is refused too, the rows after it wait for a fresh producer (the
        # refusal broke the producer's sequence) and go in the pass after.
        assert [await relay.publish_once() for _ in range(4)] == [0, 4, 2, 0]

        assert await _event_ids_on_topic(key, 6, topic=topic, timeout_s=5) == small + later
        assert [p["event_id"] for p in await list_parked(db)] == [big]
        async with db.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 0
        # Rows after the refused batch go in batches again.
        more = [
            await _raw_row(db, topic=topic, key=key, value=b'{"n": %d}' % i) for i in range(5, 8)
        ]
        assert await relay.publish_once() == 3
        assert await _event_ids_on_topic(key, 9, topic=topic, timeout_s=5) == small + later + more
    finally:
        await relay.stop()
        await db.dispose()
        await drop_database(db.url)


async def test_each_key_goes_to_the_partition_of_the_default_partitioner() -> None:
    """Rows are placed in partitions by the relay (one batch per partition): each key lands
    where aiokafka's (and the Java client's) default partitioner puts it, so consumers of
    a key see all its events in one partition, in order."""
    async with _throwaway_topic("test.partitions", 6) as topic:
        await _partition_placement(topic)


async def _partition_placement(topic: str) -> None:
    db = await _database()
    relay = OutboxRelay(db, service="test-partitions", bootstrap=BOOTSTRAP, security=ADMIN)
    keys = [str(uuid.uuid4()) for _ in range(20)]
    try:
        for n in range(3):
            for key in keys:
                await _raw_row(db, topic=topic, key=key, value=b'{"n": %d}' % n)
        assert await relay.publish_once() == 60
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            **ADMIN.options(),
            group_id=f"test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        seen: dict[str, list[tuple[int, bytes]]] = {}
        try:
            deadline = asyncio.get_running_loop().time() + 20
            while sum(map(len, seen.values())) < 60:
                assert asyncio.get_running_loop().time() < deadline
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        seen.setdefault(r.key.decode(), []).append((r.partition, r.value))
        finally:
            await consumer.stop()
        partitioner = DefaultPartitioner()
        for key in keys:
            expected = partitioner(key.encode(), list(range(6)), list(range(6)))
            assert seen[key] == [(expected, b'{"n": %d}' % n) for n in range(3)]
    finally:
        await relay.stop()
        await db.dispose()
        await drop_database(db.url)
