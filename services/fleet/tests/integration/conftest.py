"""One running fleet app for the integration tests: real PostgreSQL and Kafka, tokens
from a throw-away key, and a delegation double whose grants each test sets."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fleet_catalogue import catalogue_event
from fleet_factories import sim_body
from httpx import AsyncClient

from contracts.base import EventPayload
from contracts.envelope import CloudEvent, InvalidEvent, new_event
from contracts.events.catalogue import CataloguePublishedV1
from fleet import repository
from fleet.main import create_app
from fleet.settings import FleetSettings
from servicekit.auth import TokenVerifier
from servicekit.delegation_client import Resource, Visible
from servicekit.kafka import admin_security
from servicekit.testing import (
    FakeDelegation,
    TokenFactory,
    drop_database,
    fresh_database_url,
    running,
)

os.environ.setdefault(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres"
)
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# The tests' own clients connect as the broker's admin (servicekit.kafka, ADR 24).
ADMIN = admin_security()
RECORDED_TOPICS = ("sim.changed", "notification.requested", "fleet-manager.changed")


class Recorder:
    """Reads what fleet publishes, from the end of each topic at start-up on."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, CloudEvent]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            *RECORDED_TOPICS,
            bootstrap_servers=BOOTSTRAP,
            **ADMIN.options(),
            group_id=f"fleet-test-recorder-{uuid.uuid4().hex}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )
        await consumer.start()
        for _ in range(100):
            await consumer.getmany(timeout_ms=100)
            if consumer.assignment():
                break
        # Fix the start position now, so nothing published from here on is missed.
        for tp in consumer.assignment():
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    try:
                        event = CloudEvent.from_bytes(r.value)
                    except InvalidEvent:
                        continue
                    self.events.append((r.topic, r.key.decode() if r.key else None, event))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()

    async def wait_for(
        self,
        topic: str,
        match: Callable[[dict[str, Any]], bool],
        *,
        count: int = 1,
        timeout_s: float = 15.0,
    ) -> list[tuple[str | None, CloudEvent]]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            found = [(k, e) for t, k, e in self.events if t == topic and match(e.data)]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.1)


async def publish(payload: EventPayload, *, event_id: uuid.UUID | None = None) -> None:
    event = new_event(payload, source="/services/test", event_id=event_id)
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, **ADMIN.options(), enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(event.type, value=event.to_bytes(), key=payload.key().encode())
    finally:
        await producer.stop()


@dataclass
class Grants:
    """The delegation double's answers: (user, action, customer or sim id) triples."""

    allowed: set[tuple[str, str, str]] = field(default_factory=set)

    def rule(self, subject: str, action: str, resource: Resource) -> bool:
        targets = {str(resource.customer_id), str(resource.id), str(resource.sim_id)}
        return any((subject, action, t) in self.allowed for t in targets)


@dataclass
class Fleet:
    client: AsyncClient
    tokens: TokenFactory
    delegation: FakeDelegation
    grants: Grants
    recorder: Recorder
    app: Any

    operator_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def operator(self) -> dict[str, str]:
        return self.tokens.headers(self.operator_id, kind="operator")

    def user(self, user_id: str, customer_id: str) -> dict[str, str]:
        return self.tokens.headers(user_id, kind="user", customer_id=customer_id)

    def grant(self, user_id: str, target: str, *actions: str) -> None:
        for action in actions:
            self.grants.allowed.add((user_id, action, target))

    def show(
        self, user_id: str, *, customers: Collection[str] = (), ids: Collection[str] = ()
    ) -> None:
        self.delegation.visible_map[(user_id, "sim", "sim.read")] = Visible(
            customer_ids=frozenset(customers), ids=frozenset(ids)
        )

    async def provision(self, customer_id: str, **overrides: Any) -> dict[str, Any]:
        body = sim_body(customer_id, **overrides)
        resp = await self.client.post("/v1/operator/sims", json=body, headers=self.operator())
        assert resp.status_code == 201, resp.text
        return resp.json()

    async def publish(self, payload: EventPayload, *, event_id: uuid.UUID | None = None) -> None:
        await publish(payload, event_id=event_id)


async def stored_catalogue_versions(app: Any) -> list[int]:
    async with app.state.kit.db.transaction() as session:
        return await repository.catalogue_version_numbers(session)


async def receive_catalogue(fleet: Fleet, event: CataloguePublishedV1) -> None:
    """Billing's catalogue version on Kafka, as billing publishes it; back once stored."""
    await fleet.publish(event)
    for _ in range(150):
        if event.catalogue_version in await stored_catalogue_versions(fleet.app):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("fleet did not store the catalogue version")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def fleet() -> AsyncIterator[Fleet]:
    tokens = TokenFactory()
    grants = Grants()
    delegation = FakeDelegation(grants.rule)
    settings = FleetSettings(
        database_url=await fresh_database_url("fleet"),
        consumer_group=f"fleet-test-{uuid.uuid4().hex}",
        consumer_offset_reset="latest",
        consumer_backoff_initial_s=0.05,
        relay_poll_interval_s=0.1,
    )
    app = create_app(
        settings,
        verifier=TokenVerifier(
            tokens.key_source, issuer="portal-identity", audience="portal", service="fleet"
        ),
        delegation=delegation,
    )
    recorder = Recorder()
    await recorder.start()
    async with running(app) as client:
        kit = app.state.kit
        for _ in range(150):  # the consumer starts at "latest": wait until it holds partitions
            if kit.consumer is not None and kit.consumer.assigned:
                break
            await asyncio.sleep(0.1)
        assert kit.consumer is not None and kit.consumer.assigned
        fleet = Fleet(client, tokens, delegation, grants, recorder, app)
        await receive_catalogue(fleet, catalogue_event())
        yield fleet
    await recorder.stop()
    await drop_database(settings.database_url)  # leave none behind on the shared server


@pytest.fixture(autouse=True)
def _fresh_grants(request: pytest.FixtureRequest) -> None:
    if "fleet" in request.fixturenames:
        fleet: Fleet = request.getfixturevalue("fleet")
        fleet.grants.allowed.clear()
        fleet.delegation.visible_map.clear()
