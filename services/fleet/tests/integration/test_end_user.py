"""A SIM's end user is a service user of the SIM's customer [8.6]: fleet learns users from
identity's ``user.created`` and ``user.deactivated`` (ADR 0020) and refuses anyone else."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from fleet_factories import new_id
from sqlalchemy import func, select

from contracts.events.identity import ContractV1, UserCreatedV1, UserDeactivatedV1
from fleet.models import SimHistory, User

from .conftest import Fleet

pytestmark = pytest.mark.integration


def user_created(user_id: str, customer_id: str, profile: str) -> UserCreatedV1:
    return UserCreatedV1(
        user_id=uuid.UUID(user_id),
        customer_id=uuid.UUID(customer_id),
        email=f"u-{user_id[:8]}@example.be",
        first_name="An",
        last_name="Peeters",
        locale="nl",
        profile=profile,  # type: ignore[arg-type]
        subprofiles=[],
        contract=ContractV1(kind="employee", ends_on=None),
        registrant=False,
        invited_by=uuid.uuid4(),
        created_at=datetime.now(UTC),
    )


async def known_users(fleet: Fleet, ids: set[str], *, status: str = "active") -> None:
    """Wait (bounded) until fleet's consumer has recorded these users in ``status``."""
    wanted = {uuid.UUID(i) for i in ids}
    for _ in range(150):
        async with fleet.app.state.kit.db.sessions() as session:
            rows = await session.scalars(
                select(User.user_id).where(User.user_id.in_(wanted), User.status == status)
            )
            if set(rows) == wanted:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fleet never recorded {sorted(ids)} as {status}")


async def history_count(fleet: Fleet, sim_id: str) -> int:
    async with fleet.app.state.kit.db.sessions() as session:
        return int(
            (
                await session.execute(
                    select(func.count())
                    .select_from(SimHistory)
                    .where(SimHistory.sim_id == uuid.UUID(sim_id))
                )
            ).scalar_one()
        )


async def test_only_an_active_service_user_of_the_sims_customer_becomes_its_end_user(
    fleet: Fleet,
):
    customer, other_customer = new_id(), new_id()
    sim_id = (await fleet.provision(customer))["sim_id"]
    mine, theirs, portal = new_id(), new_id(), new_id()
    await fleet.publish(user_created(mine, customer, "service_user"))
    await fleet.publish(user_created(theirs, other_customer, "service_user"))
    await fleet.publish(user_created(portal, customer, "portal_user"))
    await known_users(fleet, {mine, theirs, portal})
    url = f"/v1/sims/{sim_id}/end-user"
    before = await history_count(fleet, sim_id)

    for refused in (theirs, portal, new_id()):
        resp = await fleet.client.put(url, json={"user_id": refused}, headers=fleet.operator())
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert await history_count(fleet, sim_id) == before
    got = await fleet.client.get(f"/v1/sims/{sim_id}", headers=fleet.operator())
    assert got.json()["end_user_id"] is None

    ok = await fleet.client.put(url, json={"user_id": mine}, headers=fleet.operator())
    assert ok.status_code == 200 and ok.json()["end_user_id"] == mine
    assert await history_count(fleet, sim_id) == before + 1


async def test_a_deactivated_user_cannot_become_an_end_user(fleet: Fleet):
    customer = new_id()
    sim_id = (await fleet.provision(customer))["sim_id"]
    gone = new_id()
    await fleet.publish(user_created(gone, customer, "service_user"))
    await fleet.publish(
        UserDeactivatedV1(
            user_id=uuid.UUID(gone),
            customer_id=uuid.UUID(customer),
            reason="removed",
            deactivated_at=datetime.now(UTC),
        )
    )
    await known_users(fleet, {gone}, status="deactivated")
    resp = await fleet.client.put(
        f"/v1/sims/{sim_id}/end-user", json={"user_id": gone}, headers=fleet.operator()
    )
    assert resp.status_code == 422
