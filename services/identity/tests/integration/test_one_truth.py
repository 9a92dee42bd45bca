"""Identity asks delegation, the one truth about rights, with the target user as the
resource: the profile it stored at invitation never decides who may invite, remove or
give notice, and ``/v1/me`` shows the profile delegation holds now."""

from __future__ import annotations

import uuid

import pytest

from identity.profiles import CurrentProfile

from .conftest import Stack
from .factories import (
    INVITEE_PASSWORD,
    admin_of_new_customer,
    confirmed_invitee,
    events_of,
    invite_body,
    owners_rule,
)

pytestmark = pytest.mark.integration


async def test_a_manager_cannot_remove_a_user_appointed_access_owner_after_invitation(
    stack: Stack,
) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    manager_email, manager_id = await confirmed_invitee(
        stack, owner, customer_id, profile="access_manager", contract={"kind": "management"}
    )
    owners.managers[manager_id] = customer_id
    _, later_owner = await confirmed_invitee(stack, owner, customer_id)  # a portal user
    rule = stack.delegation.rule
    # Delegation now holds ``later_owner`` as access owner: a manager may not remove it.
    stack.delegation.rule = lambda s, a, r: (
        False if (a == "user.remove" and str(r.id) == later_owner) else rule(s, a, r)
    )
    manager = await stack.bearer(manager_email, INVITEE_PASSWORD)
    removed = await stack.client.delete(
        f"/v1/customers/{customer_id}/users/{later_owner}", headers=manager
    )
    assert removed.status_code == 403, removed.text
    assert removed.headers["content-type"].startswith("application/problem+json")
    asked = [(s, a, r.type, str(r.id)) for s, a, r in stack.delegation.calls]
    assert (manager_id, "user.remove", "user", later_owner) in asked
    assert await events_of(stack, customer_id, "user.deactivated") == []
    users = await stack.client.get(f"/v1/customers/{customer_id}/users", headers=owner)
    status = {u["user_id"]: u["status"] for u in users.json()["items"]}
    assert status[later_owner] == "active"


async def test_a_registrant_demoted_to_manager_cannot_appoint_an_owner_or_give_notice(
    stack: Stack,
) -> None:
    owners = owners_rule(stack)
    owner, customer_id, owner_id = await admin_of_new_customer(stack, owners)
    # Identity stored "access_owner" at registration; delegation now says manager.
    del owners[owner_id]
    owners.managers[owner_id] = customer_id
    users_before = await stack.count("users")
    notices_before = await stack.count("terminations")
    appoint = await stack.client.post(
        f"/v1/customers/{customer_id}/users",
        json=invite_body(profile="access_owner"),
        headers=owner,
    )
    assert appoint.status_code == 403
    notice = await stack.client.post(
        f"/v1/customers/{customer_id}/termination", json={"by": "customer"}, headers=owner
    )
    assert notice.status_code == 403
    assert await stack.count("users") == users_before
    assert await stack.count("terminations") == notices_before
    # It still administers users who are not access owners.
    invited = await stack.client.post(
        f"/v1/customers/{customer_id}/users", json=invite_body(), headers=owner
    )
    assert invited.status_code == 201


async def test_me_shows_the_profile_delegation_holds_now(stack: Stack) -> None:
    owners = owners_rule(stack)
    owner, customer_id, _ = await admin_of_new_customer(stack, owners)
    email, user_id = await confirmed_invitee(stack, owner, customer_id)
    headers = await stack.bearer(email, INVITEE_PASSWORD)
    assert (await stack.client.get("/v1/me", headers=headers)).json()["profile"] == "portal_user"
    stack.profiles.now[uuid.UUID(user_id)] = CurrentProfile("access_owner", [])
    me = (await stack.client.get("/v1/me", headers=headers)).json()
    assert me["profile"] == "access_owner" and me["subprofiles"] == []
