"""What reaches Kafka through the relay, and the audit chain in the real database."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from contracts.envelope import CloudEvent
from identity import audit
from servicekit.kafka import admin_security

from .conftest import StackFactory
from .factories import register_and_accept

pytestmark = pytest.mark.integration

TOPICS = ("customer.registered", "user.created", "notification.requested")


async def test_accepted_registration_reaches_kafka_as_cloudevents(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(relay_enabled=True)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        **admin_security().options(),  # the test's own reader (ADR 24)
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or []
        ]
        if not partitions:
            await consumer._client.force_metadata_update()  # first use of this client
            partitions = [
                TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # pin "end" before anything is published

        _, created = await register_and_accept(stack)
        customer_id = created["customer_id"]
        found: dict[str, tuple[CloudEvent, dict[str, bytes]]] = {}
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < 3 and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key != customer_id.encode():
                        continue
                    event = CloudEvent.from_bytes(record.value)
                    found[event.type] = (event, dict(record.headers))
    finally:
        await consumer.stop()

    assert set(found) == set(TOPICS)
    for topic, (event, headers) in found.items():
        assert event.type == topic and event.source == "/services/identity"
        assert event.dataschema == f"urn:portal:events:{topic}:v1"
        assert headers["content-type"] == b"application/cloudevents+json"
        raw = json.loads(event.to_bytes())
        assert raw["specversion"] == "1.0" and raw["id"] and raw["time"]
    assert found["customer.registered"][0].data["customer_id"] == customer_id
    # Relayed rows leave the outbox.
    for _ in range(20):
        if await stack.count("outbox") == 0:
            break
        await asyncio.sleep(0.1)
    assert await stack.count("outbox") == 0


async def test_audit_log_is_append_only_and_tampering_is_detected(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack()  # its own: this test breaks the chain on purpose
    await register_and_accept(stack)
    async with stack.db.sessions() as session:
        assert (await audit.verify(session)).ok

    # The database refuses edits outright...
    with pytest.raises(DBAPIError, match="append-only"):
        async with stack.db.transaction() as session:
            await session.execute(text("UPDATE audit_log SET action = 'nothing' WHERE seq = 1"))

    # ...and if someone with DDL rights gets round that, the chain still tells.
    postgres = stack.db.dialect == "postgresql"
    async with stack.db.transaction() as session:
        if postgres:
            await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
        else:
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
        await session.execute(
            text('UPDATE audit_log SET details = \'{"ip": "6.6.6.6"}\' WHERE seq = 1')
        )
        if postgres:
            await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
    async with stack.db.sessions() as session:
        check = await audit.verify(session)
    assert not check.ok and check.first_bad_seq == 1
