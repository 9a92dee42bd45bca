"""Delegation is the one truth about who may act on a user: identity asks it with the
target user as the resource, so the profile identity stored at invitation time never
decides (an access owner appointed later, a manager demoted later)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from delegation_env import Env, customer_resource
from delegation_factories import user_created

from delegation.service import events


def _user(user_id: UUID, customer_id: UUID) -> dict[str, Any]:
    return {"type": "user", "id": user_id, "customer_id": customer_id}


async def _grant(env: Env, by: UUID, customer_id: UUID, user_id: UUID, profile: str) -> None:
    resp = await env.client.post(
        f"/v1/customers/{customer_id}/assignments",
        headers=env.user(by, customer_id),
        json={"user_id": str(user_id), "profile": profile},
    )
    assert resp.status_code == 201, resp.text


async def _revoke_profile(env: Env, by: UUID, customer_id: UUID, user_id: UUID) -> None:
    resp = await env.client.delete(
        f"/v1/customers/{customer_id}/assignments/{events.profile_assignment_id(user_id)}",
        headers=env.user(by, customer_id),
    )
    assert resp.status_code == 204, resp.text


async def test_a_manager_may_not_remove_an_access_owner_appointed_after_invitation(
    env: Env,
) -> None:
    c = await env.register()
    manager = await env.invite(c.customer_id, "access_manager", kind="management")
    later_owner = await env.invite(c.customer_id)  # invited as a portal user
    assert (await env.check(manager, "user.remove", _user(later_owner, c.customer_id)))[
        "allowed"
    ] is True
    await _grant(env, c.registrant, c.customer_id, later_owner, "access_owner")
    assert await env.check(manager, "user.remove", _user(later_owner, c.customer_id)) == {
        "allowed": False,
        "reason": "target_is_access_owner",
    }


async def test_an_owner_demoted_to_manager_may_no_longer_appoint_owners_or_give_notice(
    env: Env,
) -> None:
    c = await env.register()
    second = await env.invite(c.customer_id, "access_manager", kind="management")
    await _grant(env, c.registrant, c.customer_id, second, "access_owner")
    customer = customer_resource(c.customer_id)
    for action in ("access_owner.appoint", "customer.terminate"):
        assert (await env.check(c.registrant, action, customer))["allowed"] is True
    await _grant(env, second, c.customer_id, c.registrant, "access_manager")
    await _revoke_profile(env, second, c.customer_id, c.registrant)
    for action in ("access_owner.appoint", "customer.terminate"):
        assert await env.check(c.registrant, action, customer) == {
            "allowed": False,
            "reason": "requires_access_owner",
        }
    # ...but still administers the users who are not access owners.
    pu = await env.invite(c.customer_id)
    assert (await env.check(c.registrant, "user.remove", _user(pu, c.customer_id)))["allowed"]


async def test_the_last_access_owner_cannot_be_removed_whoever_asks(env: Env) -> None:
    c = await env.register()
    second = await env.invite(c.customer_id, "access_manager", kind="management")
    await _grant(env, c.registrant, c.customer_id, second, "access_owner")
    # Two owners: one may remove the other.
    assert (await env.check(second, "user.remove", _user(c.registrant, c.customer_id)))[
        "allowed"
    ] is True
    await _revoke_profile(env, second, c.customer_id, c.registrant)
    # Now ``second`` is the only one; nobody removes it (an owner through the group
    # neither: the affiliate keeps an access owner of its own).
    assert await env.check(second, "user.remove", _user(second, c.customer_id)) == {
        "allowed": False,
        "reason": "last_access_owner",
    }


async def test_an_invitation_by_a_manager_cannot_create_an_access_owner(env: Env) -> None:
    c = await env.register()
    manager = await env.invite(c.customer_id, "access_manager", kind="management")
    forged = uuid.uuid4()
    await env.apply(
        events.user_created,
        user_created(forged, c.customer_id, "access_owner", invited_by=manager),
    )
    assert (await env.check(forged, "invoice.read", customer_resource(c.customer_id)))[
        "allowed"
    ] is False
    assert [e for e in await env.outbox() if e["data"].get("user_id") == str(forged)] == []
    # An access owner's invitation does appoint one.
    appointed = uuid.uuid4()
    await env.apply(
        events.user_created,
        user_created(appointed, c.customer_id, "access_owner", invited_by=c.registrant),
    )
    assert await env.check(appointed, "invoice.read", customer_resource(c.customer_id)) == {
        "allowed": True,
        "reason": "access_owner",
    }


async def test_an_invitation_by_an_unknown_inviter_cannot_create_an_access_owner(
    env: Env,
) -> None:
    c = await env.register()
    forged = uuid.uuid4()
    await env.apply(events.user_created, user_created(forged, c.customer_id, "access_owner"))
    assert (await env.check(forged, "user.manage", customer_resource(c.customer_id)))[
        "allowed"
    ] is False
