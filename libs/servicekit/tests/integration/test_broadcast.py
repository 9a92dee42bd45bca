"""Every instance reads every delegation.changed event (no consumer group), so each one's
decision cache forgets a revoked right."""

import asyncio
import os
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import EventPayload
from contracts.envelope import new_event
from contracts.events import DelegationChangedV1
from servicekit.auth import ServiceTokenProvider
from servicekit.broadcast import BroadcastReader
from servicekit.delegation_client import DelegationClient, Resource
from servicekit.kafka import admin_security

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()


async def _token() -> tuple[str, float]:
    return "t", 300.0


def _instance(answers: dict[str, bool]) -> DelegationClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"allowed": answers["allowed"], "reason": "r"})

    tokens = ServiceTokenProvider("http://identity/token", "billing", "x", fetch=_token)
    return DelegationClient(
        "http://delegation", tokens, ttl_s=3600, transport=httpx.MockTransport(handler)
    )


async def test_every_instance_reads_the_revocation_and_refuses_the_right() -> None:
    answers = {"allowed": True}
    resource = Resource("invoice", uuid.uuid4(), uuid.uuid4(), billing_account_id=uuid.uuid4())
    revoked = DelegationChangedV1(
        customer_id=resource.customer_id,
        user_id=uuid.uuid4(),
        assignment_id=uuid.uuid4(),
        change="revoked",
        profile="portal_user",
        changed_at=datetime.now(UTC),
    )
    instances, readers, seen = [], [], []
    for _ in range(2):  # two instances of one service, as two replicas would be
        client = _instance(answers)
        got = asyncio.Event()

        def on_event(payload: EventPayload | None, client=client, got=got) -> None:  # type: ignore[no-untyped-def]
            client.invalidate(payload)
            if isinstance(payload, DelegationChangedV1) and payload == revoked:
                got.set()

        reader = BroadcastReader(
            service="billing",
            topic="delegation.changed",
            bootstrap=BOOTSTRAP,
            security=ADMIN,
            on_event=on_event,
        )
        reader.start()
        instances.append(client)
        readers.append(reader)
        seen.append(got)
    try:
        for reader in readers:
            await asyncio.wait_for(reader.ready.wait(), 60)
        for client in instances:
            assert (await client.check("u", "invoice.read", resource)).allowed
        answers["allowed"] = False  # revoked in delegation; both caches still say yes
        for client in instances:
            assert (await client.check("u", "invoice.read", resource)).allowed

        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **ADMIN.options())
        await producer.start()
        try:
            event = new_event(revoked, source="/services/delegation")
            await producer.send_and_wait(
                "delegation.changed", event.to_bytes(), key=str(revoked.assignment_id).encode()
            )
        finally:
            await producer.stop()

        for got in seen:
            await asyncio.wait_for(got.wait(), 60)
        for client in instances:
            assert len(client) == 0
            assert not (await client.check("u", "invoice.read", resource)).allowed
    finally:
        for reader in readers:
            await reader.stop()
        for client in instances:
            await client.close()
