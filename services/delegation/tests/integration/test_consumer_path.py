"""identity's events through real Kafka into delegation's real PostgreSQL, and the
resulting rights through the check API; delegation.changed comes out the other side."""

from __future__ import annotations

import uuid

import pytest
from delegation_env import delegation_env
from delegation_factories import customer_registered, user_created, user_deactivated
from delegation_kafka import Tail, eventually, publish, start_group_at_end

from contracts.topics import CATALOGUE
from servicekit.testing import fresh_database_url

pytestmark = pytest.mark.integration

CONSUMED = [name for name, spec in CATALOGUE.items() if "delegation" in spec.consumers]


def _registration(customer_id: uuid.UUID, registrant: uuid.UUID, *, owner: bool):
    return [
        customer_registered(customer_id, registrant, wants_access_owner=owner),
        user_created(
            registrant,
            customer_id,
            "access_owner" if owner else "access_manager",
            registrant=True,
        ),
    ]


async def test_registration_events_make_the_registrant_owner_or_manager() -> None:
    group = f"delegation-it-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(group, CONSUMED)
    url = await fresh_database_url("delegation")
    async with (
        delegation_env(url, consumer_enabled=True, relay_enabled=True, consumer_group=group) as env,
        Tail("delegation.changed") as changes,
    ):
        owner_customer, owner = uuid.uuid4(), uuid.uuid4()
        manager_customer, manager = uuid.uuid4(), uuid.uuid4()
        await publish(
            _registration(owner_customer, owner, owner=True)
            + _registration(manager_customer, manager, owner=False)
        )

        def res(cid: uuid.UUID) -> dict[str, object]:
            return {"type": "customer", "id": cid, "customer_id": cid}

        async def owner_may_read() -> bool:
            return (await env.check(owner, "invoice.read", res(owner_customer)))["allowed"]

        await eventually(owner_may_read, what="the registrant to become access owner")
        other = await env.check(owner, "invoice.read", res(uuid.uuid4()))
        assert other == {"allowed": False, "reason": "other_customer"}

        async def manager_may_manage() -> bool:
            d = await env.check(manager, "user.manage", res(manager_customer))
            return d["allowed"]

        await eventually(manager_may_manage, what="the registrant to become access manager")
        read = await env.check(manager, "invoice.read", res(manager_customer))
        assert read == {"allowed": False, "reason": "profile_access_manager_cannot_read_data"}

        granted = await changes.wait_for(
            lambda e: (
                e.data["user_id"] in (str(owner), str(manager)) and e.data["change"] == "granted"
            ),
            count=2,
        )
        assert {(e.data["user_id"], e.data["profile"]) for e in granted} == {
            (str(owner), "access_owner"),
            (str(manager), "access_manager"),
        }
        assert all(e.source == "/services/delegation" for e in granted)

        # Deactivation travels the same way and takes every right away.
        await publish([user_deactivated(owner, owner_customer)])

        async def owner_denied() -> bool:
            d = await env.check(owner, "invoice.read", res(owner_customer))
            return d == {"allowed": False, "reason": "user_inactive"}

        await eventually(owner_denied, what="the deactivation to apply")
        await changes.wait_for(
            lambda e: (
                e.data["user_id"] == str(owner)
                and e.data["change"] == "revoked"
                and e.data["reason"] == "user_deactivated"
            )
        )
