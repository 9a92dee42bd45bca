"""One notifier for the whole module, wired to the real infrastructure: a fresh
PostgreSQL database, Kafka, the SMTP sink and the SMS-gateway sink. Billing is the only
fake: a tiny in-process stand-in at the edge, serving invoice PDFs.

Kafka, the sinks and the machine are shared with other teams, whose test stacks run
notifiers of their own. So that those do not also send *our* requests (two mails at the
sink, injected SMS failures consumed by someone else), the events this module publishes
go to topics of its own (``it-notifier-<random>.<topic>``), created here and deleted
afterwards; the notifier under test consumes them with a real consumer group, exactly
as it consumes the catalogue's topics. What it publishes goes to the real topics."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI

from contracts.base import EventPayload
from contracts.envelope import CloudEvent, new_event
from notifier.main import create_app
from notifier.settings import NotifierSettings
from servicekit.app import ServiceKit
from servicekit.auth import TokenVerifier
from servicekit.kafka import admin_security
from servicekit.testing import FakeDelegation, TokenFactory, fresh_database_url, running

os.environ.setdefault(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres"
)
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
SINK = os.environ.get("SINK_HTTP_URL", "http://127.0.0.1:8025")

PDF = b"%PDF-1.4\n% a fake invoice from the test billing\n%%EOF\n"


class FakeBilling:
    """Stands in for billing's GET /v1/invoices/{id}/pdf."""

    def __init__(self) -> None:
        self.invoices: set[str] = set()
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.strip("/").split("/")
        if request.headers.get("authorization") != "Bearer test-service-token":
            return httpx.Response(401)
        if len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[2] in self.invoices:
            return httpx.Response(200, content=PDF, headers={"content-type": "application/pdf"})
        return httpx.Response(404)


class FakeServiceTokens:
    async def token(self) -> str:
        return "test-service-token"

    def invalidate(self) -> None:
        return None


@dataclass
class Stack:
    app: FastAPI
    client: httpx.AsyncClient
    kit: ServiceKit
    tokens: TokenFactory
    billing: FakeBilling
    producer: AIOKafkaProducer
    sink: httpx.AsyncClient
    topic_prefix: str

    def operator(self) -> dict[str, str]:
        return self.tokens.headers(uuid.uuid4(), kind="operator")

    async def publish(self, payload: EventPayload, event: CloudEvent | None = None) -> CloudEvent:
        event = event or new_event(payload, source="/services/integration-test")
        await self.producer.send_and_wait(
            self.topic_prefix + event.type,
            value=event.to_bytes(),
            key=payload.key().encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
        return event

    async def mails_to(self, address: str) -> list[dict[str, Any]]:
        resp = await self.sink.get("/api/mails", params={"to": address})
        resp.raise_for_status()
        return list(resp.json())

    async def sms_to(self, number: str) -> list[dict[str, Any]]:
        resp = await self.sink.get("/api/sms", params={"to": number})
        resp.raise_for_status()
        return list(resp.json())

    async def notifications(self, **params: Any) -> list[dict[str, Any]]:
        resp = await self.client.get(
            "/v1/operator/notifications", params=params, headers=self.operator()
        )
        assert resp.status_code == 200, resp.text
        return list(resp.json()["items"])

    async def wait_for(
        self, predicate: Any, what: str, within: float = 20.0, interval: float = 0.2
    ) -> Any:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            result = await predicate()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(interval)


async def _drop_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    url = await fresh_database_url("notifier")
    settings = NotifierSettings(
        database_url=url,
        environment="test",
        consumer_group=f"notifier-test-{uuid.uuid4().hex[:8]}",
        # This stack reads and writes its own prefixed copies of the topics (below), which
        # the notifier's principal may not touch: it connects as the broker's admin.
        kafka_sasl_username=str(ADMIN.username),
        kafka_sasl_password=str(ADMIN.password),
        consumer_offset_reset="latest",
        consumer_backoff_initial_s=0.05,
        sender_poll_interval_s=0.2,
        retry_initial_s=0.3,
        retry_max_s=1.0,
        outage_retry_s=0.3,
        max_attempts=4,
        relay_poll_interval_s=0.2,
    )
    tokens = TokenFactory()
    billing = FakeBilling()
    app = create_app(
        settings,
        verifier=TokenVerifier(
            tokens.key_source, issuer="portal-identity", audience="portal", service="notifier"
        ),
        delegation=FakeDelegation(),
        billing_transport=httpx.MockTransport(billing.handler),
    )
    kit: ServiceKit = app.state.kit
    kit.tokens = FakeServiceTokens()  # type: ignore[assignment]
    prefix = f"it-notifier-{uuid.uuid4().hex[:8]}."
    kit.handlers = kit.handlers.with_topic_prefix(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, **ADMIN.options())
    await admin.start()
    await admin.create_topics(
        [NewTopic(name, num_partitions=2, replication_factor=1) for name in kit.handlers]
    )
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, **ADMIN.options(), enable_idempotence=True)
    await producer.start()
    try:
        async with running(app) as client, httpx.AsyncClient(base_url=SINK, timeout=5) as sink:
            # "latest" only means something once the group holds its partitions.
            deadline = asyncio.get_running_loop().time() + 30
            while not (kit.consumer and kit.consumer.assigned):
                assert asyncio.get_running_loop().time() < deadline, "consumer never assigned"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            yield Stack(app, client, kit, tokens, billing, producer, sink, prefix)
    finally:
        await producer.stop()
        await admin.delete_topics(list(kit.handlers))
        await admin.close()
        if url.startswith("postgresql"):
            await _drop_database(url)


@pytest.fixture
async def published() -> AsyncIterator[Any]:
    """Read what the notifier publishes on a topic from now on (no consumer group)."""
    consumers: list[AIOKafkaConsumer] = []

    async def start(topic: str) -> AIOKafkaConsumer:
        # No group: every partition of the topic is assigned to this reader.
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=KAFKA,
            **ADMIN.options(),
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        consumers.append(consumer)
        deadline = asyncio.get_running_loop().time() + 10
        while not consumer.assignment():
            assert asyncio.get_running_loop().time() < deadline, f"no partitions for {topic}"
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)  # pin "the end" before anything is published
        return consumer

    yield start
    for consumer in consumers:
        await consumer.stop()
