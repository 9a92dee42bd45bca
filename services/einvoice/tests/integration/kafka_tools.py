"""Publishing test events to the shared Kafka and reading what the service published."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from contracts.envelope import CloudEvent, InvalidEvent
from servicekit.kafka import admin_security

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


async def publish(*events: CloudEvent, key: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                event.type,
                value=event.to_bytes(),
                key=key.encode(),
                headers=[("content-type", b"application/cloudevents+json")],
            )
    finally:
        await producer.stop()


class KafkaTap:
    """Reads topics from their end at the time it starts (no consumer group): sees what
    is published afterwards, by anyone; tests filter on their own ids."""

    def __init__(self, *topics: str) -> None:
        self.topics = topics
        self.seen: list[CloudEvent] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> KafkaTap:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve "end" now, not at the first fetch
        self._consumer = consumer
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _poll(self) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                try:
                    self.seen.append(CloudEvent.from_bytes(record.value))
                except InvalidEvent:
                    continue  # other suites put poison on shared topics on purpose

    def matching(self, predicate: Callable[[CloudEvent], bool]) -> list[CloudEvent]:
        return [e for e in self.seen if predicate(e)]

    async def wait_for(
        self, predicate: Callable[[CloudEvent], bool], *, count: int = 1, timeout_s: float = 15
    ) -> list[CloudEvent]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(self.matching(predicate)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} events, saw {self.matching(predicate)}")
            await self._poll()
        return self.matching(predicate)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer._client.force_metadata_update()  # topic metadata on first use
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"topic {topic} does not exist")
