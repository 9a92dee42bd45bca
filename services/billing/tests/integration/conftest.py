from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from billing.main import create_app
from billing.settings import BillingSettings
from contracts.base import EventPayload
from contracts.envelope import new_event
from contracts.topics import CATALOGUE
from servicekit.auth import TokenVerifier
from servicekit.kafka import admin_security
from servicekit.outbox import kafka_producer
from servicekit.testing import (
    FakeDelegation,
    TokenFactory,
    drop_database,
    fresh_database_url,
    running,
)

# The broker of the run: the local one, or a container (PORTAL_TEST_INFRA=containers).
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def operator(tokens: TokenFactory) -> dict[str, str]:
    return tokens.headers(uuid.uuid4(), kind="operator")


@asynccontextmanager
async def billing_app(
    tokens: TokenFactory,
    delegation: FakeDelegation,
    *,
    url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[Any, Any]]:
    """Billing's app on ``url`` (a fresh database by default), running, with its client;
    ``overrides`` are more settings. The database goes away with it."""
    url = url or await fresh_database_url("billing")
    settings = BillingSettings(
        database_url=url,
        environment="test",
        consumer_group=f"billing-test-{uuid.uuid4().hex[:8]}",
        consumer_offset_reset="latest",
        billing_worker_poll_s=0.2,
        retention_enabled=False,
        billing_schedule_enabled=False,
        relay_poll_interval_s=0.1,
        **overrides,
    )
    app = create_app(
        settings,
        verifier=TokenVerifier(
            tokens.key_source, issuer="portal-identity", audience="portal", service="billing"
        ),
        delegation=delegation,
    )
    try:
        async with running(app) as client:
            yield app, client
    finally:
        await drop_database(url)  # test databases go away with their test


async def wait_for(predicate: Callable[[], Any], within: float = 20.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def wait_consumer_assigned(app: Any) -> None:
    """Assigned, and the "latest" offset of every assigned partition looked up: an event
    published from now on is read (before the lookup it could land behind the position)."""
    await wait_for(lambda: app.state.kit.consumer and app.state.kit.consumer.assigned)
    kafka = app.state.kit.consumer._consumer
    for tp in kafka.assignment():
        await kafka.position(tp)


async def publish(payload: EventPayload, *, key: str | None = None, times: int = 1) -> str:
    """Publish one new event of ``payload``; ``times`` > 1 sends the same event (same id
    and bytes) again, as a producer's retry or a redelivery would."""
    event = new_event(payload, source="/tests/billing")
    producer = kafka_producer(BOOTSTRAP, client_id="billing-tests", security=ADMIN)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait(
                event.type,
                value=event.to_bytes(),
                key=(key or payload.key()).encode(),
                headers=[("content-type", b"application/cloudevents+json")],
            )
    finally:
        await producer.stop()
    return event.id


async def find_on_topic(
    topic: str, match: Callable[[dict[str, Any]], bool], within: float = 20.0
) -> dict[str, Any]:
    """Read the topic with a fresh group from the start until a message matches."""
    return (await collect_on_topic(topic, lambda v: False, until=match, within=within))[-1]


async def collect_on_topic(
    topic: str,
    match: Callable[[dict[str, Any]], bool],
    *,
    until: Callable[[dict[str, Any]], bool],
    within: float = 20.0,
) -> list[dict[str, Any]]:
    """Read the topic with a fresh group from the start: every message that matches, up
    to and including the first that matches ``until`` (last in the list)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"billing-test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except ValueError:
                        continue
                    if not isinstance(value, dict):
                        continue
                    if until(value):
                        return [*found, value]
                    if match(value):
                        found.append(value)
        raise AssertionError(f"no matching message on {topic}")
    finally:
        await consumer.stop()


async def rated_on_topic(record_ids: set[str]) -> list[dict[str, Any]]:
    """Every rated record of ``record_ids`` on ``usage.rated``, once per time it was
    published: the topic read from its start to its end as it is now (call it once the
    outbox is empty). v2 events carry a batch of records, v1 events one."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        **ADMIN.options(),
        group_id=f"billing-test-reader-{uuid.uuid4().hex}",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        # The topic as the catalogue creates it (deploy/local, the tests' broker).
        spec = CATALOGUE["usage.rated"]
        partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + 20
        while remaining:
            assert time.monotonic() < deadline, "usage.rated not read to its end in time"
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                for record in records:
                    event = json.loads(record.value)
                    items = event["data"].get("records", [event["data"]])
                    found += [item for item in items if item["record_id"] in record_ids]
                if records and records[-1].offset + 1 >= remaining[tp]:
                    del remaining[tp]
    finally:
        await consumer.stop()
    return found
