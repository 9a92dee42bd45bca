"""A poll applied in concurrent transactions (``consumer_transactions``): each partition in
one of them, in order; a failing event costs only its own partition's group a fallback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy import Column, Integer, String, Table, select

from contracts.envelope import CloudEvent, new_event
from contracts.events import UserCreatedV1
from contracts.examples import example
from servicekit.consumer import EventConsumer, PermanentError, _split, observe_many
from servicekit.db import Database, new_metadata


def _records(partition: int, count: int, start: int = 0) -> list[ConsumerRecord[Any, Any]]:
    return [
        ConsumerRecord("user.created", partition, start + i, 0, 0, b"k", b"", None, 1, 0, [])
        for i in range(count)
    ]


def test_a_poll_is_split_by_partition_into_groups_of_about_equal_size() -> None:
    batches = {TopicPartition("t", p): _records(p, n) for p, n in enumerate([9, 1, 5, 4, 3, 2])}
    groups = _split(batches, 2)
    assert len(groups) == 2
    assert sorted(tp for group in groups for tp in group) == sorted(batches)  # each once
    sizes = sorted(sum(len(r) for r in group.values()) for group in groups)
    assert sizes == [12, 12]
    assert _split(batches, 1) == [batches]
    assert len(_split({TopicPartition("t", 0): _records(0, 5)}, 4)) == 1
    assert len(_split(dict(list(batches.items())[:3]), 8)) == 3  # never an empty group


@pytest.mark.parametrize("transactions", [1, 2, 3])
async def test_a_poll_in_concurrent_transactions_applies_each_event_once_in_partition_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transactions: int
) -> None:
    metadata = new_metadata()
    effects = Table(
        "effects",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String),
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/consumer.db", metadata)
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    events = {
        p: [new_event(example(UserCreatedV1), source="/s/t") for _ in range(4)] for p in range(4)
    }
    bad = events[2][1]  # the second event of partition 2 can never be applied

    async def handle(session: Any, event: CloudEvent, payload: Any) -> None:
        await asyncio.sleep(0)  # let the other transactions run
        if event.id == bad.id:
            raise PermanentError("never")
        await session.execute(effects.insert().values(event_id=event.id))

    consumer = EventConsumer(
        db,
        service="notifier",
        group_id="test",
        bootstrap="unused:9092",
        handlers={UserCreatedV1: handle},
        transactions=transactions,
    )
    letters: list[str] = []

    async def dead_letter(record: Any, exc: BaseException, *, attempts: int) -> None:
        letters.append(CloudEvent.from_bytes(record.value).id)

    monkeypatch.setattr(consumer, "_dead_letter", dead_letter)
    batches = {
        TopicPartition("user.created", p): [
            ConsumerRecord("user.created", p, 10 + i, 0, 0, b"k", e.to_bytes(), None, 1, 0, [])
            for i, e in enumerate(evs)
        ]
        for p, evs in events.items()
    }
    try:
        await consumer._handle_poll(batches)
        async with db.sessions() as session:
            order = list(
                (await session.execute(select(effects.c.event_id).order_by("seq"))).scalars()
            )
            inbox = set((await session.execute(select(db.inbox.c.event_id))).scalars())
        good = [e.id for evs in events.values() for e in evs if e.id != bad.id]
        assert sorted(order) == sorted(good)  # every other event, once
        assert letters == [bad.id]
        for evs in events.values():  # each partition's events in their order
            ids = [e.id for e in evs if e.id != bad.id]
            assert [i for i in order if i in ids] == ids
        assert consumer._applied == {tp: 14 for tp in batches}
        assert inbox == set(good)
    finally:
        await db.dispose()


class _RevokedMidBatch:
    """An aiokafka consumer whose partitions were taken by a rebalance while the batch
    was applied: the commit is accepted, the partition is no longer assigned."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set()

    def highwater(self, tp: TopicPartition) -> int:
        raise AssertionError("Partition is not assigned")  # what aiokafka does

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError("Partition is not assigned")

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


async def test_a_batch_whose_partition_was_revoked_meanwhile_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/consumer.db", new_metadata())
    async with db.engine.begin() as conn:
        await conn.run_sync(db.metadata.create_all)
    applied: list[str] = []

    async def handle(session: Any, event: CloudEvent, payload: Any) -> None:
        applied.append(event.id)

    consumer = EventConsumer(
        db, service="notifier", group_id="test", bootstrap="unused:9092",
        handlers={UserCreatedV1: handle},
    )  # fmt: skip
    kafka = _RevokedMidBatch()
    monkeypatch.setattr(consumer, "_subscriber", type("Sub", (), {"consumer": kafka})())
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(consumer, "_sleep", sleep)
    event = new_event(example(UserCreatedV1), source="/s/t")
    record = ConsumerRecord("user.created", 3, 7, 0, 0, b"k", event.to_bytes(), None, 1, 0, [])
    try:
        await consumer._on_batch(type("Msg", (), {"raw_message": (record,)})())
        assert applied == [event.id]
        assert kafka.commits == [{TopicPartition("user.created", 3): 8}]
        assert consumer._failures == 0 and slept == []  # applied and committed: no re-read
    finally:
        await db.dispose()


@pytest.mark.parametrize("amount", [0.0, 0.004, 0.3, 7.5, 1e6])
def test_observe_many_gives_the_samples_of_as_many_observe_calls(amount: float) -> None:
    registry = CollectorRegistry()
    one_by_one = Histogram("one", "x", ["t"], registry=registry)
    at_once = Histogram("many", "x", ["t"], registry=registry)
    for _ in range(37):
        one_by_one.labels("a").observe(amount)
    observe_many(at_once.labels("a"), amount, 37)

    def samples(name: str) -> list[tuple[str, dict[str, str], float]]:
        metric = next(m for m in registry.collect() if m.name == name)
        return [
            (s.name.removeprefix(name), s.labels, s.value)
            for s in metric.samples
            if not s.name.endswith("_created")
        ]

    # The same buckets and count; the sum up to float rounding (37 additions, one product).
    one, many = samples("one"), samples("many")
    assert [s[:2] for s in one] == [s[:2] for s in many]
    assert [s[2] for s in one] == pytest.approx([s[2] for s in many])
