"""The outbox relay and the consumer against a real Kafka broker and real databases."""

import asyncio
import os
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import Column, MetaData, String, Table, func, select

from contracts.envelope import CloudEvent, InvalidEvent, new_event
from contracts.events.identity import CustomerTerminatedV1, UserCreatedV1
from contracts.examples import example
from servicekit.consumer import EventConsumer, PermanentError
from servicekit.db import Database, new_metadata
from servicekit.kafka import admin_security
from servicekit.migrations import run_env  # noqa: F401  (imported to prove it loads)
from servicekit.outbox import Outbox, OutboxRelay
from servicekit.telemetry import configure_tracing, tracer
from servicekit.testing import fresh_database_url

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
TOPIC = "customer.terminated"


def _metadata() -> tuple[MetaData, Table]:
    md = new_metadata()
    effects = Table(
        "effects",
        md,
        Column("event_id", String(64), primary_key=True),
        Column("customer_id", String(64)),
    )
    return md, effects


async def _database() -> tuple[Database, Table]:
    md, effects = _metadata()
    db = Database(await fresh_database_url("kit"), md)
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    return db, effects


def _payload(customer_id: uuid.UUID | None = None) -> CustomerTerminatedV1:
    return CustomerTerminatedV1(
        customer_id=customer_id or uuid.uuid4(),
        by="customer",
        effective_on=datetime.now(UTC).date(),
        terminated_at=datetime.now(UTC),
    )


async def _read_events(customer_id: str, count: int, timeout_s: float = 20.0) -> list[CloudEvent]:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[CloudEvent] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline and len(found) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    try:
                        ev = CloudEvent.from_bytes(r.value)
                    except InvalidEvent:
                        continue  # other tests put poison on this topic on purpose
                    if ev.data.get("customer_id") == customer_id:
                        assert r.key.decode() == ev.data["customer_id"]
                        assert dict(r.headers).get("traceparent")
                        found.append(ev)
    finally:
        await consumer.stop()
    return found


async def test_events_written_in_a_transaction_reach_kafka_in_order_and_leave_the_outbox():
    db, _ = await _database()
    outbox = Outbox(db, source="/services/test")
    relay = OutboxRelay(
        db, service="test", bootstrap=BOOTSTRAP, security=ADMIN, poll_interval_s=0.1
    )
    customer = uuid.uuid4()
    configure_tracing("test", None)
    written = []
    with tracer().start_as_current_span("request"):
        async with db.transaction() as session:
            for _ in range(5):
                written.append((await outbox.add(session, _payload(customer))).id)
    await relay.start()
    try:
        events = await _read_events(str(customer), 5)
    finally:
        await relay.stop()
    # Per-key order: all five, in the order they were written, with the trace context.
    assert [e.id for e in events] == written
    async with db.sessions() as s:
        left = (await s.execute(select(func.count()).select_from(db.outbox))).scalar()
    assert left == 0
    await db.dispose()


async def test_a_rolled_back_transaction_publishes_nothing():
    db, _ = await _database()
    outbox = Outbox(db, source="/services/test")
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await outbox.add(session, _payload())
            raise RuntimeError("use case failed")
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(db.outbox))).scalar() == 0
    await db.dispose()


async def _publish(values: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(TOPIC, key=key, value=value)
    finally:
        await producer.stop()


async def _dead_letters(service: str, marker: bytes, timeout_s: float = 20.0) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        f"dlq.{service}",
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not found and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r for r in records if marker in r.value]
    finally:
        await consumer.stop()
    return found


async def _assigned(consumer: EventConsumer) -> None:
    for _ in range(100):
        if consumer.assigned:
            return
        await asyncio.sleep(0.2)


async def _effects_of(db: Database, effects: Table, customer: str, *, at_least: int) -> list[str]:
    """The event ids applied for ``customer``, once there are ``at_least`` (or after 20 s)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        async with db.sessions() as s:
            query = select(effects.c.event_id).where(effects.c.customer_id == customer)
            rows = list((await s.execute(query)).scalars())
        if len(rows) >= at_least or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.2)


async def test_consumer_applies_each_event_once_and_dead_letters_poison_without_blocking():
    db, effects = await _database()
    service = "billing"  # any catalogued service name: its dlq topic exists
    customer = str(uuid.uuid4())
    calls: list[str] = []

    async def handler(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.id)
        if payload.by == "operator":
            raise PermanentError("operator terminations are refused by this test handler")
        await session.execute(
            effects.insert().values(event_id=event.id, customer_id=str(payload.customer_id))
        )

    consumer = EventConsumer(
        db,
        service=service,
        group_id=f"test-{uuid.uuid4().hex}",
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers={CustomerTerminatedV1: handler},
        backoff_initial_s=0.01,
        offset_reset="latest",
    )
    # Dead letters go through the service's outbox, published by its relay.
    relay = OutboxRelay(
        db, service=service, bootstrap=BOOTSTRAP, security=ADMIN, poll_interval_s=0.1
    )
    await relay.start()
    await consumer.start()
    try:
        await _assigned(consumer)
        good = new_event(_payload(uuid.UUID(customer)), source="/services/test")
        refused = new_event(
            CustomerTerminatedV1(
                customer_id=uuid.UUID(customer),
                by="operator",
                effective_on=datetime.now(UTC).date(),
                terminated_at=datetime.now(UTC),
            ),
            source="/services/test",
        )
        marker = uuid.uuid4().hex.encode()
        poison = b'{"specversion": "1.0", "garbage": "' + marker + b'"'
        # A valid event whose payload class nobody here handles (a user.created on this
        # topic stands in for a schema version the service does not know yet).
        stray = new_event(example(UserCreatedV1), source="/services/test")
        after = new_event(_payload(uuid.UUID(customer)), source="/services/test")
        key = customer.encode()
        await _publish(
            [
                (key, good.to_bytes()),
                (key, good.to_bytes()),
                (key, poison),
                (key, refused.to_bytes()),
                (key, stray.to_bytes()),
                (key, after.to_bytes()),
            ]
        )
        rows = await _effects_of(db, effects, customer, at_least=2)
        # The duplicate of `good` had no second effect, and the partition kept flowing
        # past the poison message to `after`.
        assert sorted(rows) == sorted([good.id, after.id])
        letters = await _dead_letters(service, marker)
        assert letters, "the malformed message was not dead-lettered"
        headers = dict(letters[0].headers)
        assert headers["dlq.original_topic"] == TOPIC.encode()
        assert headers["dlq.error_type"] == b"InvalidEvent"
        refused_letters = await _dead_letters(service, refused.id.encode())
        assert dict(refused_letters[0].headers)["dlq.error_type"] == b"PermanentError"
        stray_headers = dict((await _dead_letters(service, stray.id.encode()))[0].headers)
        assert stray_headers["dlq.error_type"] == b"PermanentError"
        assert b"no handler for UserCreatedV1" in stray_headers["dlq.error"]
        assert stray_headers["dlq.attempts"] == b"0"
        assert stray.id not in calls
    finally:
        await consumer.stop()
        await relay.stop()
        await db.dispose()


async def test_consumer_continues_the_producers_trace():
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    configure_tracing("test", None)
    exporter = InMemorySpanExporter()
    otel_trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    db, effects = await _database()

    async def handler(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        await session.execute(effects.insert().values(event_id=event.id, customer_id="c"))

    consumer = EventConsumer(
        db,
        service="billing",
        group_id=f"test-{uuid.uuid4().hex}",
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers={CustomerTerminatedV1: handler},
        offset_reset="latest",
    )
    await consumer.start()
    try:
        for _ in range(100):
            if consumer.assigned:
                break
            await asyncio.sleep(0.2)
        trace_id = uuid.uuid4().hex
        event = new_event(_payload(), source="/services/test")
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
        await producer.start()
        try:
            await producer.send_and_wait(
                TOPIC,
                key=b"k",
                value=event.to_bytes(),
                headers=[("traceparent", f"00-{trace_id}-{'1' * 16}-01".encode())],
            )
        finally:
            await producer.stop()
        deadline = asyncio.get_running_loop().time() + 20
        spans = []
        while not spans and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            spans = [
                s
                for s in exporter.get_finished_spans()
                if format(s.context.trace_id, "032x") == trace_id
            ]
        assert spans and spans[0].name == f"{TOPIC} process"
        assert spans[0].parent is not None and format(spans[0].parent.span_id, "016x") == "1" * 16
    finally:
        await consumer.stop()
        await db.dispose()


async def test_replay_puts_a_dead_letter_back_on_its_topic_once():
    from aiokafka import TopicPartition

    from contracts.topics import topic
    from servicekit.deadletter import replay

    service, group = "einvoice", f"test-replay-{uuid.uuid4().hex}"
    # Position the replay group at the end, so only this test's letter is replayed.
    probe = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), group_id=group, enable_auto_commit=False
    )
    await probe.start()
    try:
        parts = [
            TopicPartition(f"dlq.{service}", p) for p in range(topic(f"dlq.{service}").partitions)
        ]
        probe.assign(parts)
        ends = await probe.end_offsets(parts)
        await probe.commit({tp: off for tp, off in ends.items()})
    finally:
        await probe.stop()

    db, _ = await _database()

    async def refuse(session, event, payload) -> None:  # type: ignore[no-untyped-def]
        raise PermanentError("refused")

    consumer = EventConsumer(
        db,
        service=service,
        group_id=f"test-{uuid.uuid4().hex}",
        bootstrap=BOOTSTRAP,
        security=ADMIN,
        handlers={CustomerTerminatedV1: refuse},
        offset_reset="latest",
    )
    relay = OutboxRelay(
        db, service=service, bootstrap=BOOTSTRAP, security=ADMIN, poll_interval_s=0.1
    )
    await relay.start()
    await consumer.start()
    event = new_event(_payload(), source="/services/test")
    try:
        for _ in range(100):
            if consumer.assigned:
                break
            await asyncio.sleep(0.2)
        await _publish([(b"k", event.to_bytes())])
        assert await _dead_letters(service, event.id.encode())
    finally:
        await consumer.stop()
        await relay.stop()
        await db.dispose()

    watcher = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="latest",
    )
    await watcher.start()
    try:
        await watcher.getmany(timeout_ms=1000)  # joins the group and fixes its position
        assert await replay(service, BOOTSTRAP, group=group) == 1
        assert await replay(service, BOOTSTRAP, group=group) == 0  # committed: once only
        replayed = []
        deadline = asyncio.get_running_loop().time() + 15
        while not replayed and asyncio.get_running_loop().time() < deadline:
            for records in (await watcher.getmany(timeout_ms=500)).values():
                replayed += [r for r in records if event.id.encode() in r.value]
        assert replayed and dict(replayed[0].headers).get("dlq.replayed") == b"1"
        assert not any(k.startswith("dlq.error") for k, _ in replayed[0].headers)
    finally:
        await watcher.stop()
