"""Kafka helpers for integration tests on the shared broker (other tests and other
services publish there too: everything is positioned at the end first and filtered by
this test's ids)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.base import EventPayload
from contracts.envelope import CLOUDEVENTS_JSON, CloudEvent, new_event
from servicekit.kafka import admin_security

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


async def _partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    tps = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()  # topic metadata not cached yet
            parts = consumer.partitions_for_topic(topic) or set()
        tps += [TopicPartition(topic, p) for p in sorted(parts)]
    return tps


async def start_group_at_end(group_id: str, topics: list[str]) -> None:
    """Commit the current end offsets for a new consumer group, so the service's
    consumer starts exactly there: it sees what this test publishes next and none of
    the backlog other tests left on the shared topics."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await _partitions(consumer, topics)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


async def publish(payloads: list[EventPayload], *, source: str = "/services/identity") -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    try:
        for payload in payloads:
            event = new_event(payload, source=source)
            await producer.send_and_wait(
                event.type,
                value=event.to_bytes(),
                key=payload.key().encode(),
                headers=[("content-type", CLOUDEVENTS_JSON.encode())],
            )
    finally:
        await producer.stop()


class Tail:
    """Reads a topic from its current end, without a group."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_auto_commit=False
        )
        self.seen: list[CloudEvent] = []

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        tps = await _partitions(self.consumer, [self.topic])
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the positions now, before anything is published
            await self.consumer.position(tp)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.consumer.stop()

    async def wait_for(
        self, match: Callable[[CloudEvent], bool], count: int = 1, timeout_s: float = 15
    ) -> list[CloudEvent]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=300)
            for records in batches.values():
                self.seen += [CloudEvent.from_bytes(r.value) for r in records]
            found = [e for e in self.seen if match(e)]
            if len(found) >= count:
                return found
        raise AssertionError(f"timed out waiting for {count} event(s) on {self.topic}")


async def eventually(probe: Callable[[], Any], *, timeout_s: float = 15, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")
