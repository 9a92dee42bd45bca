"""Fleet has no price catalogue of its own (ADR 0014): it answers orders with 503 until
billing's arrives on ``catalogue.published``, then checks them against the version valid
now; a later version applies from its date, never before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from fleet_catalogue import catalogue_event
from fleet_factories import new_id, sim_body
from sqlalchemy import func, select

from contracts.events.catalogue import CataloguePublishedV1
from fleet import repository
from fleet.main import create_app
from fleet.models import Sim
from fleet.service import catalogue
from fleet.settings import FleetSettings
from servicekit.auth import TokenVerifier
from servicekit.testing import FakeDelegation, TokenFactory, drop_database, fresh_database_url
from servicekit.testing import running as running_app

from .conftest import Fleet, Grants, Recorder, publish, stored_catalogue_versions

pytestmark = pytest.mark.integration


@asynccontextmanager
async def fleet_without_catalogue(*, consumer_enabled: bool = True) -> AsyncIterator[Fleet]:
    """A fleet of its own, on a fresh database and a fresh consumer group."""
    tokens, grants = TokenFactory(), Grants()
    delegation = FakeDelegation(grants.rule)
    settings = FleetSettings(
        database_url=await fresh_database_url("fleet"),
        consumer_group=f"fleet-test-{uuid.uuid4().hex}",
        consumer_offset_reset="latest",
        relay_poll_interval_s=0.1,
        consumer_enabled=consumer_enabled,
    )
    app = create_app(
        settings,
        verifier=TokenVerifier(tokens.key_source, issuer="portal-identity", audience="portal"),
        delegation=delegation,
    )
    try:
        async with running_app(app) as client:
            kit = app.state.kit
            for _ in range(150 if consumer_enabled else 0):
                if kit.consumer is not None and kit.consumer.assigned:
                    break
                await asyncio.sleep(0.1)
            yield Fleet(client, tokens, delegation, grants, Recorder(), app)
    finally:
        await drop_database(settings.database_url)


async def store(fleet: Fleet, event: CataloguePublishedV1) -> None:
    async with fleet.app.state.kit.db.transaction() as session:
        await catalogue.store_version(session, fleet.app.state.deps, event)


async def test_orders_answer_503_until_a_catalogue_is_known_then_follow_it():
    async with fleet_without_catalogue(consumer_enabled=False) as fleet:
        customer = new_id()
        body = sim_body(customer, tariff_plan="SMART_S")
        r = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["retry-after"] == "30"
        r = await fleet.client.get("/v1/catalogue", headers=fleet.operator())
        assert r.status_code == 503
        async with fleet.app.state.kit.db.transaction() as session:
            assert await repository.catalogue_version_numbers(session) == []
            assert await session.scalar(select(func.count()).select_from(Sim)) == 0

        await store(fleet, catalogue_event(1))
        r = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
        assert r.status_code == 201, r.text
        assert r.json()["monthly_fee"] == "15.00"
        gold = sim_body(customer, tariff_plan="GOLD")
        r = await fleet.client.post("/v1/operator/sims", json=gold, headers=fleet.operator())
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "tariff_plan"


async def test_a_fleet_started_later_reads_the_catalogue_billing_published_before():
    """The topic is kept forever and read from its start by a new group, even one told to
    start at the end (``consumer_offset_reset=latest``, as the e2e stack does)."""
    await publish(catalogue_event(1))  # billing's version 1, before this fleet starts
    async with fleet_without_catalogue() as fleet:
        for _ in range(150):
            if await stored_catalogue_versions(fleet.app) == [1]:
                break
            await asyncio.sleep(0.1)
        assert await stored_catalogue_versions(fleet.app) == [1]
        body = sim_body(new_id(), tariff_plan="SMART_S")
        r = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
        assert r.status_code == 201, r.text


async def test_a_later_version_applies_from_its_date_and_a_redelivery_changes_nothing():
    # Handed to the handler's use case, not published: the shared topic is kept forever
    # and every fleet reads it, so tests publish only billing's own version 1.
    async with fleet_without_catalogue(consumer_enabled=False) as fleet:
        await store(fleet, catalogue_event(1))
        body = sim_body(new_id(), tariff_plan="SMART_S")
        r = await fleet.client.post("/v1/operator/sims", json=body, headers=fleet.operator())
        sim_url = f"/v1/sims/{r.json()['sim_id']}"

        now = datetime.now(UTC)
        await store(fleet, catalogue_event(2, now + timedelta(days=1), smart_s_fee="99.00"))
        r = await fleet.client.get(sim_url, headers=fleet.operator())
        assert r.json()["monthly_fee"] == "15.00"  # tomorrow's price is not today's
        await store(fleet, catalogue_event(3, now - timedelta(minutes=1), smart_s_fee="18.00"))
        r = await fleet.client.get(sim_url, headers=fleet.operator())
        assert r.json()["monthly_fee"] == "18.00"
        listed = (await fleet.client.get("/v1/catalogue", headers=fleet.operator())).json()
        assert listed["tariff_plans"][0]["monthly_fee"] == "18.00"

        await store(fleet, catalogue_event(1, smart_s_fee="1.00"))  # a redelivery
        assert await stored_catalogue_versions(fleet.app) == [1, 2, 3]
        r = await fleet.client.get(sim_url, headers=fleet.operator())
        assert r.json()["monthly_fee"] == "18.00"
