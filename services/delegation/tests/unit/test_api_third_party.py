"""[9.2] Third-party delegation: asked by the access owner, no effect until approved."""

from __future__ import annotations

import uuid
from uuid import UUID

from delegation_env import Env, customer_resource


def _path(customer_id: UUID) -> str:
    return f"/v1/customers/{customer_id}/third-party-delegations"


def _ask(grantee: UUID) -> dict[str, object]:
    return {
        "grantee_user_id": str(grantee),
        "scope": {"applications": ["invoice-insights"]},
        "permissions": ["read"],
    }


async def test_third_party_delegation_has_no_effect_until_the_operator_approves(
    env: Env,
) -> None:
    c, consultancy = await env.register(), await env.register()
    consultant = await env.invite(consultancy.customer_id)
    resp = await env.client.post(
        _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "pending" and body["id"]
    invoices = customer_resource(c.customer_id)
    assert (await env.check(consultant, "invoice.read", invoices))["allowed"] is False

    pending = await env.client.get(
        "/v1/operator/third-party-delegations", params={"status": "pending"}, headers=env.operator()
    )
    assert body["id"] in {i["id"] for i in pending.json()["items"]}

    resp = await env.client.post(
        f"/v1/operator/third-party-delegations/{body['id']}/approve", headers=env.operator()
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "approved" and resp.json()["assignment_id"]
    assert await env.check(consultant, "invoice.read", invoices) == {
        "allowed": True,
        "reason": "delegated",
    }
    # The delegating access owner may ask about its consultant.
    asked = await env.check(consultant, "invoice.read", invoices, env.user(c.registrant))
    assert asked["allowed"] is True
    # ...only what was delegated, and never administration.
    assert (await env.check(consultant, "sim.read", invoices))["allowed"] is False
    assert (await env.check(consultant, "user.manage", invoices))["allowed"] is False
    events = [
        e["data"]
        for e in await env.outbox()
        if e["type"] == "delegation.changed"
        and e["data"]["user_id"] == str(consultant)
        and e["data"]["customer_id"] == str(c.customer_id)
    ]
    assert [(e["change"], e["third_party"]) for e in events] == [("granted", True)]

    again = await env.client.post(
        f"/v1/operator/third-party-delegations/{body['id']}/refuse", headers=env.operator()
    )
    assert again.status_code == 409


async def test_refused_third_party_delegation_never_takes_effect(env: Env) -> None:
    c, other = await env.register(), await env.register()
    consultant = await env.invite(other.customer_id)
    created = (
        await env.client.post(
            _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
        )
    ).json()
    resp = await env.client.post(
        f"/v1/operator/third-party-delegations/{created['id']}/refuse",
        headers=env.operator(),
        json={"reason": "unknown company"},
    )
    assert resp.status_code == 200 and resp.json()["status"] == "refused"
    approve = await env.client.post(
        f"/v1/operator/third-party-delegations/{created['id']}/approve", headers=env.operator()
    )
    assert approve.status_code == 409
    invoices = customer_resource(c.customer_id)
    assert (await env.check(consultant, "invoice.read", invoices))["allowed"] is False


async def test_only_the_access_owner_asks_for_third_party_delegation(env: Env) -> None:
    c, other = await env.register(wants_access_owner=False), await env.register()
    consultant = await env.invite(other.customer_id)
    resp = await env.client.post(
        _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
    )
    assert resp.status_code == 403


async def test_operator_routes_need_operator_staff(env: Env) -> None:
    c = await env.register()
    resp = await env.client.post(
        f"/v1/operator/third-party-delegations/{uuid.uuid4()}/approve",
        headers=env.user(c.registrant),
    )
    assert resp.status_code == 403
    missing = await env.client.post(
        f"/v1/operator/third-party-delegations/{uuid.uuid4()}/approve", headers=env.operator()
    )
    assert missing.status_code == 404


async def test_third_party_cannot_re_delegate(env: Env) -> None:
    c, other = await env.register(), await env.register()
    consultant = await env.invite(other.customer_id)
    created = (
        await env.client.post(
            _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
        )
    ).json()
    await env.client.post(
        f"/v1/operator/third-party-delegations/{created['id']}/approve", headers=env.operator()
    )
    colleague = await env.invite(c.customer_id)
    resp = await env.client.post(
        f"/v1/customers/{c.customer_id}/assignments",
        headers=env.user(consultant),
        json={"user_id": str(colleague), "profile": "portal_user", "permissions": ["read"]},
    )
    assert resp.status_code == 403
    assert resp.json()["reason"] == "third_party_cannot_delegate"


async def test_a_malformed_request_is_422_before_an_outsider_hears_404(env: Env) -> None:
    c, other = await env.register(), await env.register()
    outsider = env.user(other.registrant)
    malformed = await env.client.post(_path(c.customer_id), headers=outsider, json={})
    assert malformed.status_code == 422
    wellformed = await env.client.post(
        _path(c.customer_id), headers=outsider, json=_ask(uuid.uuid4())
    )
    assert wellformed.status_code == 404


async def test_an_administrator_learns_only_its_own_customers_part_of_what_a_user_sees(
    env: Env,
) -> None:
    """The attack: the consultancy's access owner asks what its consultant may see, and
    would learn the client's data the consultant was delegated."""
    client, consultancy = await env.register(), await env.register()
    consultant = await env.invite(consultancy.customer_id)
    created = (
        await env.client.post(
            _path(client.customer_id), headers=env.user(client.registrant), json=_ask(consultant)
        )
    ).json()
    approved = await env.client.post(
        f"/v1/operator/third-party-delegations/{created['id']}/approve", headers=env.operator()
    )
    assert approved.status_code == 200, approved.text
    path = f"/v1/subjects/{consultant}/resources"
    params = {"type": "invoice", "action": "invoice.read"}

    themselves = await env.client.get(
        path, params=params, headers=env.user(consultant, consultancy.customer_id)
    )
    assert themselves.json()["customer_ids"] == [str(client.customer_id)]
    by_their_employer = await env.client.get(
        path, params=params, headers=env.user(consultancy.registrant, consultancy.customer_id)
    )
    assert by_their_employer.status_code == 200, by_their_employer.text
    assert by_their_employer.json()["customer_ids"] == []  # the client's part stays hidden
    by_the_client = await env.client.get(
        path, params=params, headers=env.user(client.registrant, client.customer_id)
    )
    assert by_the_client.json()["customer_ids"] == [str(client.customer_id)]


async def _demote(env: Env, customer_id: UUID, owner: UUID) -> None:
    """Another access owner appoints ``owner`` access manager and revokes its
    access-owner assignment."""
    from delegation_factories import user_created

    from delegation.service import events

    second = uuid.uuid4()
    await env.apply(
        events.user_created,
        user_created(second, customer_id, "access_owner", invited_by=owner),
    )
    resp = await env.client.post(
        f"/v1/customers/{customer_id}/assignments",
        headers=env.user(second, customer_id),
        json={"user_id": str(owner), "profile": "access_manager"},
    )
    assert resp.status_code == 201, resp.text
    revoked = await env.client.delete(
        f"/v1/customers/{customer_id}/assignments/{events.profile_assignment_id(owner)}",
        headers=env.user(second, customer_id),
    )
    assert revoked.status_code == 204, revoked.text


async def test_approval_is_refused_when_the_requester_is_no_longer_access_owner(
    env: Env,
) -> None:
    c, consultancy = await env.register(), await env.register()
    consultant = await env.invite(consultancy.customer_id)
    asked = await env.client.post(
        _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
    )
    assert asked.status_code == 201, asked.text
    await _demote(env, c.customer_id, c.registrant)
    before = await env.outbox()

    resp = await env.client.post(
        f"/v1/operator/third-party-delegations/{asked.json()['id']}/approve",
        headers=env.operator(),
    )
    assert resp.status_code == 409, resp.text
    assert resp.json()["reason"] == "requester_not_access_owner"
    assert await env.outbox() == before
    invoices = customer_resource(c.customer_id)
    assert (await env.check(consultant, "invoice.read", invoices))["allowed"] is False
    still = await env.client.get(
        "/v1/operator/third-party-delegations", params={"status": "pending"}, headers=env.operator()
    )
    assert asked.json()["id"] in {i["id"] for i in still.json()["items"]}


async def test_approval_is_refused_when_the_requester_was_deactivated(env: Env) -> None:
    c, consultancy = await env.register(), await env.register()
    consultant = await env.invite(consultancy.customer_id)
    asked = await env.client.post(
        _path(c.customer_id), headers=env.user(c.registrant), json=_ask(consultant)
    )
    await env.deactivate(c.registrant, c.customer_id)
    resp = await env.client.post(
        f"/v1/operator/third-party-delegations/{asked.json()['id']}/approve",
        headers=env.operator(),
    )
    assert resp.status_code == 409 and resp.json()["reason"] == "requester_not_access_owner"
