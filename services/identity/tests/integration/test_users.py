"""Invite, confirm with a password, list and deactivate the users of a customer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from contracts.envelope import parse_data
from contracts.events.identity import UserCreatedV1, UserDeactivatedV1
from contracts.events.notification import NotificationRequestedV1
from servicekit.pagination import encode_cursor

from .conftest import GOOD_PASSWORD, Stack
from .factories import (
    Headers,
    active_user,
    admin_of_new_customer,
    confirm_token,
    invite_body,
    owners_rule,
    register_and_accept,
)

pytestmark = pytest.mark.integration


async def test_invite_confirm_list_deactivate(stack: Stack) -> None:
    owners = owners_rule(stack)
    admin, customer_id, admin_id = await admin_of_new_customer(stack, owners)
    users_url = f"/v1/customers/{customer_id}/users"

    body = invite_body()
    invited = await stack.client.post(users_url, json=body, headers=admin)
    assert invited.status_code == 201, invited.text
    assert invited.json()["status"] == "invited"
    user_id = invited.json()["user_id"]
    assert ("user.manage", "customer") in [(a, r.type) for _, a, r in stack.delegation.calls]

    events = [e for e in await stack.outbox_events(customer_id) if e.subject != customer_id]
    created = parse_data(
        next(e for e in events if e.type == "user.created" and e.subject == user_id), UserCreatedV1
    )
    assert created.registrant is False and str(created.invited_by) == admin_id
    assert created.profile == "portal_user" and created.subprofiles == ["purchaser"]
    assert created.contract.kind == "employee" and created.mobile == "+32470123456"
    note_event = [e for e in events if e.type == "notification.requested"][-1]
    note = parse_data(note_event, NotificationRequestedV1)
    assert str(note.to.user_id) == user_id and note.locale == "fr"
    token = confirm_token(note_event)

    # Invited users have no password: they choose one when confirming.
    assert (await stack.login(body["email"], GOOD_PASSWORD)).status_code == 401
    link = await stack.client.get("/v1/users/confirm", params={"token": token})
    assert link.json()["password_required"] is True
    missing = await stack.client.post("/v1/users/confirm", json={"token": token})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["password"]
    weak = await stack.client.post("/v1/users/confirm", json={"token": token, "password": "abc"})
    assert weak.status_code == 422
    ok = await stack.client.post(
        "/v1/users/confirm", json={"token": token, "password": "bobs own pass 99"}
    )
    assert ok.status_code == 200 and ok.json() == {"user_id": user_id, "status": "active"}
    bob = (await stack.login(body["email"], "bobs own pass 99")).json()
    assert "access_token" in bob

    await listed_in_pages(stack, admin, users_url, {admin_id, user_id})
    await deactivated_once(stack, admin, customer_id, user_id, body["email"], bob)

    # Nobody removes themselves.
    self_remove = await stack.client.delete(f"{users_url}/{admin_id}", headers=admin)
    assert self_remove.status_code == 409


async def listed_in_pages(stack: Stack, admin: Headers, users_url: str, ids: set[str]) -> None:
    listed = await stack.client.get(users_url, headers=admin)
    assert listed.status_code == 200
    items = {i["user_id"]: i for i in listed.json()["items"]}
    assert set(items) == ids
    invitee = next(i for i in items.values() if i["profile"] == "portal_user")
    assert invitee["status"] == "active"
    page1 = await stack.client.get(users_url, params={"limit": 1}, headers=admin)
    assert len(page1.json()["items"]) == 1 and page1.json()["next_cursor"]
    page2 = await stack.client.get(
        users_url, params={"limit": 1, "cursor": page1.json()["next_cursor"]}, headers=admin
    )
    assert {page1.json()["items"][0]["user_id"], page2.json()["items"][0]["user_id"]} == set(items)
    assert page2.json()["next_cursor"] is None


async def deactivated_once(
    stack: Stack,
    admin: Headers,
    customer_id: str,
    user_id: str,
    email: str,
    bob: dict[str, Any],
) -> None:
    """user.deactivated, no more login, refresh tokens dead. Idempotent."""
    users_url = f"/v1/customers/{customer_id}/users"
    removed = await stack.client.delete(f"{users_url}/{user_id}", headers=admin)
    assert removed.status_code == 204
    deactivated = [
        parse_data(e, UserDeactivatedV1)
        for e in await stack.outbox_events(customer_id)
        if e.type == "user.deactivated"
    ]
    assert [(str(d.user_id), d.reason) for d in deactivated] == [(user_id, "removed")]
    assert (await stack.login(email, "bobs own pass 99")).status_code == 401
    refresh = await stack.client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": bob["refresh_token"]},
    )
    assert refresh.status_code == 401
    again = await stack.client.delete(f"{users_url}/{user_id}", headers=admin)
    assert again.status_code == 204
    assert (
        len([e for e in await stack.outbox_events(customer_id) if e.type == "user.deactivated"])
        == 1
    )
    bob_me = await stack.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {bob['access_token']}"}
    )
    assert bob_me.status_code == 401


async def test_other_customers_are_invisible(stack: Stack) -> None:
    owners = owners_rule(stack)
    admin, _, _ = await admin_of_new_customer(stack, owners)
    _, other_customer, other_admin = await admin_of_new_customer(stack, owners)
    url = f"/v1/customers/{other_customer}/users"
    before = await stack.count("users")
    assert (await stack.client.post(url, json=invite_body(), headers=admin)).status_code == 404
    assert (await stack.client.get(url, headers=admin)).status_code == 404
    gone = await stack.client.delete(f"{url}/{other_admin}", headers=admin)
    assert gone.status_code == 404
    assert await stack.count("users") == before
    # Same answer for a customer that does not exist at all.
    nowhere = await stack.client.get(f"/v1/customers/{uuid.uuid4()}/users", headers=admin)
    assert nowhere.status_code == 404


async def test_a_cursor_the_list_did_not_make_is_a_400(stack: Stack) -> None:
    owners = owners_rule(stack)
    admin, customer_id, _ = await admin_of_new_customer(stack, owners)
    url = f"/v1/customers/{customer_id}/users"
    for cursor in ("%%%not-a-cursor", encode_cursor({"t": "2026-11-01T09:00:00", "id": "x"})):
        resp = await stack.client.get(url, params={"cursor": cursor}, headers=admin)
        assert resp.status_code == 400, cursor
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["type"].endswith("invalid-cursor")


async def test_access_manager_cannot_appoint_an_access_owner(stack: Stack) -> None:
    owners = owners_rule(stack)
    admin, customer_id, _ = await admin_of_new_customer(stack, owners)
    url = f"/v1/customers/{customer_id}/users"
    manager_body = invite_body(profile="access_manager", contract={"kind": "management"})
    assert (await stack.client.post(url, json=manager_body, headers=admin)).status_code == 201

    # A customer registered without an access owner: its registrant is access manager.

    form, created = await register_and_accept(stack, wants_access_owner=False)
    events = await stack.outbox_events(created["customer_id"])
    await stack.client.post("/v1/users/confirm", json={"token": confirm_token(events[2])})
    manager = await stack.bearer(form["registrant"]["email"], GOOD_PASSWORD)
    me = (await stack.client.get("/v1/me", headers=manager)).json()
    assert me["profile"] == "access_manager"
    owners.managers[me["user_id"]] = created["customer_id"]
    url = f"/v1/customers/{created['customer_id']}/users"
    owner_body = invite_body(profile="access_owner")
    assert (await stack.client.post(url, json=owner_body, headers=manager)).status_code == 403
    assert (await stack.client.post(url, json=invite_body(), headers=manager)).status_code == 201


async def test_invite_input_rules(stack: Stack) -> None:
    owners = owners_rule(stack)
    admin, customer_id, _ = await admin_of_new_customer(stack, owners)
    url = f"/v1/customers/{customer_id}/users"
    before = await stack.count("users"), await stack.count("outbox")
    ended = invite_body(contract={"kind": "employee", "ends_on": "2020-01-01"})
    assert (await stack.client.post(url, json=ended, headers=admin)).status_code == 422
    unknown = invite_body(role="boss")
    assert (await stack.client.post(url, json=unknown, headers=admin)).status_code == 422
    bad_profile = invite_body(profile="emperor")
    assert (await stack.client.post(url, json=bad_profile, headers=admin)).status_code == 422
    assert (await stack.count("users"), await stack.count("outbox")) == before
    body = invite_body()
    assert (await stack.client.post(url, json=body, headers=admin)).status_code == 201
    dup = await stack.client.post(url, json=dict(body, email=body["email"].upper()), headers=admin)
    assert dup.status_code == 409


async def test_operator_may_invite_into_any_customer(stack: Stack) -> None:
    _, customer_id = await active_user(stack)
    resp = await stack.client.post(
        f"/v1/customers/{customer_id}/users", json=invite_body(), headers=await stack.operator()
    )
    assert resp.status_code == 201
