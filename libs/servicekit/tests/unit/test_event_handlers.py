"""EventHandlers: handlers declared by payload class, topics from the contracts catalogue,
one payload-version check (PermanentError, so the consumer dead-letters)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select

import contracts.base
from contracts.base import EventPayload
from contracts.envelope import CloudEvent, new_event
from contracts.events import InvoiceClosedV1, UserCreatedV1, UserDeactivatedV1
from contracts.examples import example
from contracts.topics import UnknownTopic
from servicekit.app import ServiceKit
from servicekit.consumer import EventConsumer, EventHandlers, PermanentError
from servicekit.db import Database, new_metadata
from servicekit.settings import ServiceSettings


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Payload classes defined in a test are registered only for that test."""
    monkeypatch.setattr(contracts.base, "_REGISTRY", dict(contracts.base._REGISTRY))
    yield


def _user_created_v2() -> type[EventPayload]:
    class UserCreatedV2(EventPayload):
        event_type: ClassVar[str] = "user.created"
        version: ClassVar[int] = 2

        user_id: uuid.UUID
        customer_id: uuid.UUID

    return UserCreatedV2


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, EventPayload]] = []

    def handler(self, name: str) -> Any:
        async def handle(session: Any, event: CloudEvent, payload: Any) -> None:
            self.calls.append((name, payload))

        return handle


def test_topics_are_derived_from_the_payload_classes() -> None:
    rec = Recorder()
    handlers = EventHandlers(
        {
            InvoiceClosedV1: rec.handler("invoice"),
            UserCreatedV1: rec.handler("created"),
            UserDeactivatedV1: rec.handler("deactivated"),
        }
    )
    assert handlers.topics == ["invoice.closed", "user.created", "user.deactivated"]
    assert set(handlers) == set(handlers.topics) and len(handlers) == 3
    prefixed = handlers.with_topic_prefix("it-1.")
    assert prefixed.topics == ["it-1.invoice.closed", "it-1.user.created", "it-1.user.deactivated"]
    assert prefixed.by_payload() == handlers.by_payload()


async def test_each_payload_is_dispatched_to_the_handler_of_its_class() -> None:
    rec = Recorder()
    handlers = EventHandlers({UserCreatedV1: rec.handler("created")})
    handlers.add({UserDeactivatedV1: rec.handler("deactivated")})
    for payload in (example(UserCreatedV1), example(UserDeactivatedV1)):
        event = new_event(payload, source="/services/test")
        await handlers[event.type](None, event, payload)  # type: ignore[arg-type]
    assert [name for name, _ in rec.calls] == ["created", "deactivated"]


@pytest.mark.usefixtures("scratch_registry")
async def test_a_payload_version_nobody_handles_raises_permanent_error() -> None:
    v2 = _user_created_v2()
    handlers = EventHandlers({UserCreatedV1: Recorder().handler("v1")})
    payload = v2(user_id=uuid.uuid4(), customer_id=uuid.uuid4())
    event = new_event(payload, source="/services/test")
    with pytest.raises(PermanentError, match=r"no handler for UserCreatedV2 .*:v2\)"):
        handlers.handler_for("user.created", payload)
    with pytest.raises(PermanentError, match=r"handles UserCreatedV1 \(v1\)"):
        await handlers["user.created"](None, event, payload)  # type: ignore[arg-type]
    # A payload of another topic arriving on this one is not handled either.
    with pytest.raises(PermanentError, match="no handler for UserDeactivatedV1"):
        handlers.handler_for("user.created", example(UserDeactivatedV1))


@pytest.mark.usefixtures("scratch_registry")
async def test_two_classes_on_one_topic_each_reach_their_own_handler() -> None:
    v2 = _user_created_v2()
    rec = Recorder()
    handlers = EventHandlers({UserCreatedV1: rec.handler("v1"), v2: rec.handler("v2")})
    assert handlers.topics == ["user.created"]
    new = v2(user_id=uuid.uuid4(), customer_id=uuid.uuid4())
    for payload in (new, example(UserCreatedV1)):
        event = new_event(payload, source="/services/test")
        await handlers["user.created"](None, event, payload)  # type: ignore[arg-type]
    assert rec.calls == [("v2", new), ("v1", example(UserCreatedV1))]


@pytest.mark.usefixtures("scratch_registry")
def test_a_class_outside_the_catalogue_fails_at_start_up(tmp_path: Path) -> None:
    class InvoiceOpenedV1(EventPayload):
        event_type: ClassVar[str] = "invoice.opened"
        version: ClassVar[int] = 1

    handler = Recorder().handler("x")
    with pytest.raises(UnknownTopic, match=r"InvoiceOpenedV1: no event topic 'invoice\.opened'"):
        EventHandlers({InvoiceOpenedV1: handler})
    kit = ServiceKit(
        ServiceSettings(service_name="billing", database_url=f"sqlite+aiosqlite:///{tmp_path}/k"),
        metadata=new_metadata(),
        migrations_dir=None,
    )
    with pytest.raises(UnknownTopic, match="InvoiceOpenedV1"):
        kit.subscribe({InvoiceOpenedV1: handler})
    with pytest.raises(TypeError, match="not an EventPayload class"):
        kit.subscribe({"invoice.closed": handler})  # type: ignore[dict-item]
    kit.subscribe({InvoiceClosedV1: handler})
    with pytest.raises(ValueError, match="InvoiceClosedV1 already has a handler"):
        kit.subscribe({InvoiceClosedV1: handler})
    assert kit.handlers.topics == ["invoice.closed"]


def _record(topic: str, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


@pytest.mark.usefixtures("scratch_registry")
async def test_the_consumer_dead_letters_an_unhandled_version_and_applies_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2 = _user_created_v2()
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/consumer.db", new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    rec = Recorder()
    consumer = EventConsumer(
        db,
        service="notifier",
        group_id="test",
        bootstrap="unused:9092",
        handlers={UserCreatedV1: rec.handler("v1")},
    )
    letters: list[tuple[int, BaseException, int]] = []

    async def dead_letter(record: Any, exc: BaseException, *, attempts: int) -> None:
        letters.append((record.offset, exc, attempts))

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    first, last = (new_event(example(UserCreatedV1), source="/s/test") for _ in range(2))
    unknown = new_event(v2(user_id=uuid.uuid4(), customer_id=uuid.uuid4()), source="/s/test")
    try:
        await consumer._handle_batch(
            [
                _record("user.created", 0, first.to_bytes()),
                _record("user.created", 1, unknown.to_bytes()),
                _record("user.created", 2, last.to_bytes()),
            ]
        )
        assert [(offset, type(exc), n) for offset, exc, n in letters] == [(1, PermanentError, 0)]
        assert [name for name, _ in rec.calls] == ["v1", "v1"]
        async with db.sessions() as session:
            applied = set((await session.execute(select(db.inbox.c.event_id))).scalars())
        assert applied == {first.id, last.id}
    finally:
        await db.dispose()
