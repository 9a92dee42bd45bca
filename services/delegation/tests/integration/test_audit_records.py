"""Every grant, revocation, third-party approval and refusal writes one audit.recorded
event in the change's own transaction (real PostgreSQL): nothing for a refused request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from delegation_env import Env, delegation_env

from servicekit.testing import fresh_database_url

pytestmark = pytest.mark.integration


async def _audit(env: Env, customer_id: UUID) -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in await env.outbox()
        if e["type"] == "audit.recorded" and e["data"]["customer_id"] == str(customer_id)
    ]


@pytest.fixture
async def env() -> Any:
    async with delegation_env(await fresh_database_url("delegation")) as env:
        yield env


async def test_a_grant_and_its_revocation_are_each_recorded_once_by_whom(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    ba = env.billing_account(c.customer_id)
    owner = env.user(c.registrant, c.customer_id)
    path = f"/v1/customers/{c.customer_id}/assignments"
    body = {
        "user_id": str(pu),
        "profile": "portal_user",
        "scope": {"billing_accounts": [str(ba)], "applications": ["my-invoice-online"]},
        "permissions": ["read"],
    }
    before = await _audit(env, c.customer_id)

    foreign = env.billing_account((await env.register()).customer_id)
    refused = await env.client.post(
        path, headers=owner, json={**body, "scope": {"billing_accounts": [str(foreign)]}}
    )
    assert refused.status_code == 422
    assert await _audit(env, c.customer_id) == before  # a refused grant records nothing

    created = await env.client.post(path, headers=owner, json=body)
    assert created.status_code == 201, created.text
    assignment_id = created.json()["assignment_id"]
    [granted] = (await _audit(env, c.customer_id))[len(before) :]
    assert granted["source"] == "delegation"
    assert granted["action"] == "assignment.granted"
    assert granted["actor"] == {"kind": "user", "id": str(c.registrant)}
    assert granted["target"] == {"assignment_id": assignment_id, "user_id": str(pu)}
    assert granted["details"]["profile"] == "portal_user"
    assert granted["details"]["billing_accounts"] == 1  # counted, not listed
    assert granted["details"]["sims"] is None  # the whole customer

    gone = await env.client.delete(f"{path}/{assignment_id}", headers=env.operator())
    assert gone.status_code == 204
    [revoked] = (await _audit(env, c.customer_id))[len(before) + 1 :]
    assert revoked["action"] == "assignment.revoked"
    assert revoked["actor"]["kind"] == "operator"
    assert revoked["details"]["reason"] == "revoked"
    # Revoking again changes nothing and records nothing.
    again = await env.client.delete(f"{path}/{assignment_id}", headers=owner)
    assert again.status_code in (204, 404)
    assert len(await _audit(env, c.customer_id)) == len(before) + 2


async def test_automatic_revocations_are_recorded_with_the_system_as_actor(env: Env) -> None:
    c = await env.register()
    pu = await env.invite(c.customer_id)
    await env.deactivate(pu, c.customer_id)
    revoked = [a for a in await _audit(env, c.customer_id) if a["action"] == "assignment.revoked"]
    assert len(revoked) == 1
    assert revoked[0]["target"]["user_id"] == str(pu)
    assert revoked[0]["actor"] == {"kind": "system", "id": None}
    assert revoked[0]["details"]["reason"] == "user_deactivated"


def _ask(grantee: UUID) -> dict[str, Any]:
    return {
        "grantee_user_id": str(grantee),
        "scope": {"applications": ["invoice-insights"]},
        "permissions": ["read"],
    }


async def test_third_party_approval_and_refusal_are_recorded_for_the_data_owner(
    env: Env,
) -> None:
    c, consultancy = await env.register(), await env.register()
    consultant = await env.invite(consultancy.customer_id)
    path = f"/v1/customers/{c.customer_id}/third-party-delegations"
    owner = env.user(c.registrant, c.customer_id)
    before = await _audit(env, c.customer_id)
    first = (await env.client.post(path, headers=owner, json=_ask(consultant))).json()
    second = (await env.client.post(path, headers=owner, json=_ask(consultant))).json()
    asked = (await _audit(env, c.customer_id))[len(before) :]
    assert [(a["action"], a["target"]["delegation_id"]) for a in asked] == [
        ("third_party.requested", first["id"]),
        ("third_party.requested", second["id"]),
    ]
    assert asked[0]["actor"] == {"kind": "user", "id": str(c.registrant)}
    before = await _audit(env, c.customer_id)

    operator = env.operator()
    approved = await env.client.post(
        f"/v1/operator/third-party-delegations/{first['id']}/approve", headers=operator
    )
    assert approved.status_code == 200, approved.text
    refused = await env.client.post(
        f"/v1/operator/third-party-delegations/{second['id']}/refuse",
        headers=operator,
        json={"reason": "Consultant Jan Peeters is unknown to us"},
    )
    assert refused.status_code == 200, refused.text

    new = (await _audit(env, c.customer_id))[len(before) :]
    assert [a["action"] for a in new] == [
        "assignment.granted",
        "third_party.approved",
        "third_party.refused",
    ]
    grant, approval, refusal = new
    assert grant["details"]["third_party"] is True
    assert grant["target"]["assignment_id"] == approved.json()["assignment_id"]
    assert approval["actor"]["kind"] == refusal["actor"]["kind"] == "operator"
    assert approval["target"]["delegation_id"] == first["id"]
    assert approval["target"]["assignment_id"] == approved.json()["assignment_id"]
    assert refusal["target"] == {"delegation_id": second["id"], "user_id": str(consultant)}
    # The refusal's free text may name people: it stays in delegation.
    assert "Peeters" not in str(refusal)
    # The consultant's own company's trail is not the place for it.
    theirs = await _audit(env, consultancy.customer_id)
    assert not [a for a in theirs if a["action"].startswith("third_party")]
