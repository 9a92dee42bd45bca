"""Migrations on both engines, and the HTTP flows on real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from delegation_env import customer_resource, delegation_env

from delegation.main import MIGRATIONS_DIR
from delegation.models import Base
from servicekit.migrations import upgrade_to_head
from servicekit.testing import fresh_database_url, schema_diff

pytestmark = pytest.mark.integration


async def _diff(url: str) -> list[object]:
    return await schema_diff(url, Base.metadata)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_migrations_build_exactly_the_models(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/delegation.db"
    else:
        url = await fresh_database_url("delegation")
        assert url.startswith("postgresql")
    await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)
    await asyncio.to_thread(upgrade_to_head, url, MIGRATIONS_DIR)  # idempotent
    assert await _diff(url) == []


async def test_grant_check_and_revoke_on_postgresql() -> None:
    url = await fresh_database_url("delegation")
    async with delegation_env(url) as env:
        ready = await env.client.get("/readyz")
        assert ready.status_code == 200, ready.text

        c = await env.register()
        pu = await env.invite(c.customer_id)
        ba = env.billing_account(c.customer_id)
        path = f"/v1/customers/{c.customer_id}/assignments"
        owner = env.user(c.registrant, c.customer_id)
        body = {
            "user_id": str(pu),
            "profile": "portal_user",
            "scope": {"billing_accounts": [str(ba)]},
            "permissions": ["read"],
        }

        before = await env.outbox()
        bad = await env.client.post(path, headers=owner, json={**body, "permissions": ["x"]})
        assert bad.status_code == 422
        assert await env.outbox() == before

        created = await env.client.post(path, headers=owner, json=body)
        assert created.status_code == 201, created.text
        res = {"type": "billing_account", "id": ba, "customer_id": c.customer_id}
        assert (await env.check(pu, "invoice.read", res))["allowed"] is True
        assert (await env.check(pu, "invoice.read", customer_resource(c.customer_id)))[
            "reason"
        ] == "out_of_scope"

        stranger = await env.register()
        resp = await env.client.post(
            "/v1/check",
            headers=env.user(stranger.registrant, stranger.customer_id),
            json={
                "subject": str(pu),
                "action": "invoice.read",
                "resource": {"type": "customer", "customer_id": str(c.customer_id)},
            },
        )
        assert resp.status_code == 403

        page = (await env.client.get(path, headers=owner, params={"limit": 1})).json()
        assert len(page["items"]) == 1 and page["next_cursor"]
        rest = (
            await env.client.get(path, headers=owner, params={"cursor": page["next_cursor"]})
        ).json()
        assert len(rest["items"]) == 2 and rest["next_cursor"] is None

        gone = await env.client.delete(f"{path}/{created.json()['assignment_id']}", headers=owner)
        assert gone.status_code == 204
        assert (await env.check(pu, "invoice.read", res))["allowed"] is False


async def test_concurrent_revocations_announce_once() -> None:
    from delegation import repository as repo
    from delegation.service.common import revoke

    url = await fresh_database_url("delegation")
    async with delegation_env(url) as env:
        c = await env.register()
        pu = await env.invite(c.customer_id)
        async with env.kit.db.sessions() as s:
            [row] = await repo.active_assignments(s, user_id=pu)
        assignment_id = row.assignment_id

        async def revoke_in_own_transaction() -> bool:
            async with env.kit.db.transaction() as session:
                mine = await repo.get_assignment(session, assignment_id)
                assert mine is not None and mine.status == "active"
                await asyncio.sleep(0.2)  # both have read "active" before either writes
                return await revoke(session, env.deps, mine, reason="test", by=None)

        results = await asyncio.gather(revoke_in_own_transaction(), revoke_in_own_transaction())
        assert sorted(results) == [False, True]
        revoked = [
            e
            for e in await env.outbox()
            if e["data"].get("assignment_id") == str(assignment_id)
            and e["data"]["change"] == "revoked"
        ]
        assert len(revoked) == 1
