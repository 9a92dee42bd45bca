"""The consumer's FastStream subscriber, driven by FastStream's test broker (no Kafka):
the declaration subscribes the catalogue topics in the service's group, and a batch it
delivers goes through the inbox policy (applied once, a redelivery has no effect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faststream.kafka import TestKafkaBroker
from sqlalchemy import func, select

from contracts.envelope import CloudEvent, new_event
from contracts.events import InvoiceClosedV1, UserCreatedV1
from contracts.examples import example
from servicekit.consumer import EventConsumer
from servicekit.db import Database, new_metadata


async def _consumer(
    tmp_path: Path, applied: list[str], user_handler: Any = None
) -> tuple[EventConsumer, Database]:
    """A notifier consumer on SQLite; ``applied`` records the events its handlers apply,
    ``user_handler`` replaces the one for ``user.created``."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/consumer.db", new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)

    async def on_user(session: Any, event: CloudEvent, payload: Any) -> None:
        applied.append(event.id)

    async def on_invoice(session: Any, event: CloudEvent, payload: Any) -> None:
        applied.append(event.id)

    consumer = EventConsumer(
        db,
        service="notifier",
        group_id="notifier",
        bootstrap="unused:9092",
        handlers={UserCreatedV1: user_handler or on_user, InvoiceClosedV1: on_invoice},
    )
    return consumer, db


async def test_the_subscriber_is_declared_on_the_catalogue_topics_in_the_service_group(
    tmp_path: Path,
) -> None:
    consumer, db = await _consumer(tmp_path, [])
    try:
        broker = consumer.broker()
        (subscriber,) = broker.subscribers
        assert sorted(subscriber.topic_names) == ["invoice.closed", "user.created"]
        assert subscriber.group_id == "notifier"
        assert subscriber.batch_timeout_ms == 500
        assert subscriber.max_records == consumer.max_batch
    finally:
        await db.dispose()


async def test_an_event_delivered_twice_through_the_subscriber_is_applied_once(
    tmp_path: Path,
) -> None:
    applied: list[str] = []
    consumer, db = await _consumer(tmp_path, applied)
    event = new_event(example(UserCreatedV1), source="/services/identity")
    try:
        broker = consumer.broker()
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish(event.to_bytes(), "user.created")
            await test_broker.publish(event.to_bytes(), "user.created")
        assert applied == [event.id]
        async with db.sessions() as session:
            rows = (await session.execute(select(func.count()).select_from(db.inbox))).scalar()
        assert rows == 1
    finally:
        await db.dispose()


class _ByOwnKey:
    """A handler idempotent by its own key: it absorbs a redelivery itself."""

    idempotent = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, session: Any, event: CloudEvent, payload: Any) -> None:
        self.calls.append(event.id)

    async def apply_many(self, session: Any, items: Any) -> None:
        self.calls.extend(event.id for event, _ in items)


async def test_an_idempotent_handler_gets_every_delivery_and_leaves_no_inbox_rows(
    tmp_path: Path,
) -> None:
    handler = _ByOwnKey()
    applied: list[str] = []
    consumer, db = await _consumer(tmp_path, applied, user_handler=handler)
    user = new_event(example(UserCreatedV1), source="/services/identity")
    invoice = new_event(example(InvoiceClosedV1), source="/services/billing")
    try:
        async with TestKafkaBroker(consumer.broker()) as test_broker:
            await test_broker.publish(user.to_bytes(), "user.created")
            await test_broker.publish(user.to_bytes(), "user.created")
            await test_broker.publish(invoice.to_bytes(), "invoice.closed")
            await test_broker.publish(invoice.to_bytes(), "invoice.closed")
        assert handler.calls == [user.id, user.id]  # its own key absorbs the repeat
        assert applied == [invoice.id]  # the inbox absorbs the other handler's
        async with db.sessions() as session:
            rows = (await session.execute(select(db.inbox.c.topic))).scalars().all()
        assert rows == ["invoice.closed"]
    finally:
        await db.dispose()
