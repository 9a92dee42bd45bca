"""Two instances of one consuming service, one stopped and started mid-flow: every event
has exactly one effect (counted, not "eventually something arrived"), and the broker's
view of the group's lag falls to zero."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Column, Integer, String, Table, func, select

from contracts.envelope import new_event
from contracts.events.identity import CustomerTerminatedV1
from servicekit.consumer import EventConsumer, EventHandlers, PermanentError, probe_group_lag
from servicekit.db import Database, new_metadata
from servicekit.kafka import admin_security
from servicekit.testing import drop_database, fresh_database_url

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
EVENTS = 300


async def _topic(prefix: str) -> str:
    name = f"{prefix}customer.terminated"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def _publish(topic: str, count: int) -> set[str]:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    ids = set()
    try:
        for i in range(count):
            customer = uuid.uuid4()
            event = new_event(
                CustomerTerminatedV1(
                    customer_id=customer,
                    by="customer",
                    effective_on=datetime.now(UTC).date(),
                    terminated_at=datetime.now(UTC),
                ),
                source="/services/test",
            )
            ids.add(str(event.id))
            # Round robin, so every partition has events (and so a committed offset).
            await producer.send(
                topic, key=str(customer).encode(), value=event.to_bytes(), partition=i % 4
            )
        await producer.flush()
    finally:
        await producer.stop()
    return ids


async def _count(db: Database, table: Table) -> tuple[int, int]:
    async with db.sessions() as s:
        total = (await s.execute(select(func.count()).select_from(table))).scalar_one()
        distinct = (
            await s.execute(select(func.count(func.distinct(table.c.event_id))))
        ).scalar_one()
    return total, distinct


async def _effects_database(name: str) -> tuple[Database, Table]:
    """A fresh database with an ``effects`` table without a unique constraint: a second
    effect of one event would show as a second row."""
    md = new_metadata()
    effects = Table(
        "effects",
        md,
        Column("n", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
    )
    db = Database(await fresh_database_url(name), md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    return db, effects


async def _until(predicate, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


def _member(db: Database, group: str, prefix: str, apply: Any, **options: Any) -> EventConsumer:
    """One instance of a consuming service in ``group``, applying CustomerTerminatedV1."""
    return EventConsumer(
        db,
        service="billing",
        group_id=group,
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers=EventHandlers({CustomerTerminatedV1: apply}, topic_prefix=prefix),
        **options,
    )


async def test_a_rebalance_mid_flow_loses_nothing_and_applies_nothing_twice() -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    topic = await _topic(prefix)
    db, effects = await _effects_database("kit_rebalance")

    async def apply(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.005)  # an effect takes a moment, so the kill lands mid-flow
        await session.execute(effects.insert().values(event_id=str(event.id)))

    group = f"test-{uuid.uuid4().hex}"

    def instance() -> EventConsumer:
        return _member(db, group, prefix, apply, offset_reset="earliest", max_batch=20)

    first, second = instance(), instance()
    try:
        published = await _publish(topic, EVENTS)
        await first.start()

        async def some_applied() -> bool:
            return (await _count(db, effects))[0] >= EVENTS // 4

        await _until(some_applied)
        await second.start()  # rebalance: partitions move to the newcomer
        await asyncio.sleep(2)
        await first.stop()  # another rebalance, with work in flight
        first = instance()
        await first.start()

        async def all_applied() -> bool:
            return (await _count(db, effects))[1] >= EVENTS

        await _until(all_applied)
        await asyncio.sleep(1)  # a late duplicate, if the design allowed one, lands now
        total, distinct = await _count(db, effects)
        async with db.sessions() as s:
            applied = set((await s.execute(select(effects.c.event_id))).scalars())
        assert applied == published  # none lost
        assert total == distinct == EVENTS  # none applied twice

        async def no_lag() -> bool:
            lags = await probe_group_lag(BOOTSTRAP, group, "test", security=ADMIN)
            return bool(lags) and not any(lags.values())

        await _until(no_lag, timeout_s=30)
    finally:
        await first.stop()
        await second.stop()
        await db.dispose()
        await drop_database(db.url)


async def test_the_broker_reports_lag_while_no_instance_consumes() -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    topic = await _topic(prefix)
    db = Database(await fresh_database_url("kit_lag"), new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)

    async def apply(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        return None

    group = f"test-{uuid.uuid4().hex}"
    consumer = _member(db, group, prefix, apply, offset_reset="earliest")
    try:
        await _publish(topic, 10)
        await consumer.start()

        async def caught_up() -> bool:
            async with db.sessions() as s:
                applied = (await s.execute(select(func.count()).select_from(db.inbox))).scalar()
            lags = await probe_group_lag(BOOTSTRAP, group, "test", security=ADMIN)
            return applied == 10 and bool(lags) and sum(lags.values()) == 0

        await _until(caught_up, timeout_s=30)
        await consumer.stop()  # gone: nothing consumes, the broker still knows the lag
        await _publish(topic, 7)
        lags = await probe_group_lag(BOOTSTRAP, group, "test", security=ADMIN)
        assert sum(lags.values()) == 7
    finally:
        await consumer.stop()
        await db.dispose()
        await drop_database(db.url)


async def _consumed(db: Database, table: Table, count: int) -> None:
    async def enough() -> bool:
        return (await _count(db, table))[0] >= count

    await _until(enough, timeout_s=30)


async def test_a_failing_event_in_a_poll_of_several_partitions_is_isolated() -> None:
    """One poll returns several partitions, applied in one transaction; when one event
    fails, that transaction is rolled back and the rest are applied once each, the failing
    event alone dead-lettered."""
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    topic = await _topic(prefix)
    db, effects = await _effects_database("kit_poll")
    published = await _publish(topic, 40)
    poison = sorted(published)[7]

    async def apply(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        if str(event.id) == poison:
            raise PermanentError("this one can never apply")
        await session.execute(effects.insert().values(event_id=str(event.id)))

    consumer = _member(db, f"test-{uuid.uuid4().hex}", prefix, apply, offset_reset="earliest")
    try:
        await consumer.start()
        await _consumed(db, effects, 39)
        await asyncio.sleep(1)
        total, distinct = await _count(db, effects)
        assert total == distinct == 39
        async with db.sessions() as s:
            applied = set((await s.execute(select(effects.c.event_id))).scalars())
            letters = (await s.execute(select(db.outbox.c.value))).scalars().all()
        assert applied == published - {poison}
        assert len(letters) == 1 and poison.encode() in letters[0]  # its dead letter
    finally:
        await consumer.stop()
        await db.dispose()
        await drop_database(db.url)


class RecordingBatchHandler:
    """A handler with the optional batch form: one executemany for many events."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.batches: list[int] = []

    async def __call__(self, session, event, payload) -> None:  # type: ignore[no-untyped-def]
        await session.execute(self.table.insert().values(event_id=str(event.id)))

    async def apply_many(self, session, items) -> None:  # type: ignore[no-untyped-def]
        self.batches.append(len(items))
        await session.execute(self.table.insert(), [{"event_id": str(e.id)} for e, _ in items])


async def test_a_batch_handler_applies_each_event_once() -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    topic = await _topic(prefix)
    db, effects = await _effects_database("kit_batch")
    published = await _publish(topic, 60)
    handler = RecordingBatchHandler(effects)
    consumer = _member(db, f"test-{uuid.uuid4().hex}", prefix, handler, offset_reset="earliest")
    try:
        await consumer.start()
        await _consumed(db, effects, 60)
        await asyncio.sleep(1)
        total, distinct = await _count(db, effects)
        async with db.sessions() as s:
            applied = set((await s.execute(select(effects.c.event_id))).scalars())
            inbox = (await s.execute(select(func.count()).select_from(db.inbox))).scalar()
        assert total == distinct == 60 and applied == published and inbox == 60
        assert handler.batches and max(handler.batches) > 1  # the batch form was used
    finally:
        await consumer.stop()
        await db.dispose()
        await drop_database(db.url)


async def test_a_group_that_starts_at_latest_keeps_its_start_when_its_partitions_move() -> None:
    """``offset_reset="latest"`` means "from when the group first held the partition": an
    event published while no member held it (one left, the next not yet joined) is applied
    by the next member, not skipped because "latest" moved on. Events from before the
    group existed are not applied."""
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    topic = await _topic(prefix)
    db, effects = await _effects_database("kit_latest")
    before = await _publish(topic, 8)

    async def apply(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        await session.execute(effects.insert().values(event_id=str(event.id)))

    group = f"test-{uuid.uuid4().hex}"

    first = _member(db, group, prefix, apply, offset_reset="latest")
    second = _member(db, group, prefix, apply, offset_reset="latest")
    try:
        await first.start()

        async def ready() -> bool:
            return first.assigned

        await _until(ready, timeout_s=30)
        await first.stop()  # it applied nothing, so it committed nothing of its own
        between = await _publish(topic, 8)  # no member holds the partitions now
        await second.start()
        await _consumed(db, effects, 8)
        await asyncio.sleep(1)  # an event from before the group, if it were read, lands now
        total, distinct = await _count(db, effects)
        async with db.sessions() as s:
            applied = set((await s.execute(select(effects.c.event_id))).scalars())
        assert applied == between and not applied & before
        assert total == distinct == 8
    finally:
        await first.stop()
        await second.stop()
        await db.dispose()
        await drop_database(db.url)
