"""Decisions answer from memory, and forget at once what a write or a
``delegation.changed`` may have changed (ADR 0022)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from delegation_env import Env, customer_resource, delegation_env

from contracts.envelope import CloudEvent, parse_data


def _grant(user_id: UUID, ba: UUID) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "profile": "portal_user",
        "scope": {"applications": ["my-invoice-online"], "billing_accounts": [str(ba)]},
        "permissions": ["read"],
    }


def _invoice(customer_id: UUID, ba: UUID) -> dict[str, Any]:
    return {
        "type": "invoice",
        "id": uuid.uuid4(),
        "customer_id": customer_id,
        "billing_account_id": ba,
    }


async def _granted(env: Env, customer_id: UUID, owner: UUID, user: UUID, ba: UUID) -> str:
    resp = await env.client.post(
        f"/v1/customers/{customer_id}/assignments",
        headers=env.user(owner, customer_id),
        json=_grant(user, ba),
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["assignment_id"])


async def test_a_repeated_check_is_answered_from_memory_without_reading_the_database(
    env: Env,
) -> None:
    c = await env.register()
    resource = customer_resource(c.customer_id)
    assert (await env.check(c.registrant, "invoice.read", resource))["allowed"]
    projection = env.deps.projection
    misses = projection.misses
    for _ in range(3):
        assert (await env.check(c.registrant, "invoice.read", resource))["allowed"]
    assert projection.misses == misses  # nothing was loaded again


async def test_a_revocation_committed_here_is_refused_by_the_next_check(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    ba = env.billing_account(c.customer_id)
    assignment = await _granted(env, c.customer_id, c.registrant, pu, ba)
    assert (await env.check(pu, "invoice.read", _invoice(c.customer_id, ba)))["allowed"]
    assert len(env.deps.projection) > 0  # the subject is in memory now

    resp = await env.client.delete(
        f"/v1/customers/{c.customer_id}/assignments/{assignment}",
        headers=env.user(c.registrant, c.customer_id),
    )
    assert resp.status_code == 204
    assert not (await env.check(pu, "invoice.read", _invoice(c.customer_id, ba)))["allowed"]


async def test_a_sim_change_applied_from_an_event_is_seen_by_the_next_check(env: Env) -> None:
    c = await env.register()
    user = await env.invite(c.customer_id, "service_user")
    ba = env.billing_account(c.customer_id)
    sim = await env.sim(c.customer_id, ba, end_user=None)
    own = {"type": "sim", "id": sim, "customer_id": c.customer_id}
    assert not (await env.check(user, "sim.read", own))["allowed"]
    await env.sim(c.customer_id, ba, end_user=user, sim_id=sim, change="end_user_changed")
    assert (await env.check(user, "sim.read", own))["allowed"]


async def test_another_instances_revocation_is_refused_once_its_event_is_read(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/delegation.db"
    async with delegation_env(url) as here, delegation_env(url) as there:
        c = await here.register()
        pu = await here.invite(c.customer_id)
        ba = here.billing_account(c.customer_id)
        there.owners.accounts.update(here.owners.accounts)
        assignment = await _granted(here, c.customer_id, c.registrant, pu, ba)
        asked = _invoice(c.customer_id, ba)
        assert (await here.check(pu, "invoice.read", asked))["allowed"]

        resp = await there.client.delete(  # revoked through the other instance
            f"/v1/customers/{c.customer_id}/assignments/{assignment}",
            headers=there.user(c.registrant, c.customer_id),
        )
        assert resp.status_code == 204
        # This instance wrote nothing: until the event arrives it answers from memory.
        assert (await here.check(pu, "invoice.read", asked))["allowed"]

        [event] = [
            CloudEvent.from_bytes(json.dumps(e))
            for e in await there.outbox()
            if e["type"] == "delegation.changed" and e["data"]["change"] == "revoked"
        ]
        for listener in here.kit.on_delegation_changed:  # what the broadcast reader calls
            listener(parse_data(event))
        assert not (await here.check(pu, "invoice.read", asked))["allowed"]


async def test_concurrent_checks_of_a_missing_subject_load_it_once() -> None:
    import asyncio

    from delegation.projection import Projection, _Table

    table = _Table(Projection())
    loads: list[set[str]] = []
    release = asyncio.Event()

    async def load(keys: set[str]) -> dict[str, str]:
        loads.append(keys)
        await release.wait()
        return {k: k.upper() for k in keys}

    asking = [asyncio.create_task(table.get({"a"}, load)) for _ in range(5)]
    while not loads:  # noqa: ASYNC110  (the first load has started)
        await asyncio.sleep(0)
    release.set()
    assert [await t for t in asking] == [{"a": "A"}] * 5
    assert loads == [{"a"}]


async def test_a_load_overlapping_an_invalidation_is_not_kept() -> None:
    import asyncio

    from delegation.projection import Projection, _Table

    projection = Projection()
    table = _Table(projection)
    release = asyncio.Event()

    async def load(keys: set[str]) -> dict[str, str]:
        await release.wait()
        return {k: "old" for k in keys}

    asking = asyncio.create_task(table.get({"a"}, load))
    while not table.loading:  # noqa: ASYNC110
        await asyncio.sleep(0)
    projection.invalidate()  # a revocation committed while the old rows were being read
    release.set()
    assert await asking == {"a": "old"}
    assert not table.rows  # not kept for the next checks
