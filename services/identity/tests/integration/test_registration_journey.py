"""Registration -> acceptance (outbox) -> confirmation -> login -> refresh rotation."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest

from contracts.envelope import CloudEvent, parse_data
from contracts.events.identity import CustomerRegisteredV1, UserCreatedV1
from contracts.events.notification import NotificationRequestedV1
from identity import audit
from identity.domain import secret_hash
from identity.models import ConfirmationToken, Registration
from identity.repository import audit_entries

from .conftest import GOOD_PASSWORD, Stack
from .factories import confirm_token, register_and_accept, registration_form

pytestmark = pytest.mark.integration


async def test_full_journey(stack: Stack) -> None:
    form = registration_form(affiliates=["0202.239.951"])
    created = await submitted_and_listed(stack, form)
    events = await accepted_with_three_events(stack, form, created)
    user_id = str(parse_data(events[1], UserCreatedV1).user_id)
    token = confirm_token(events[2])
    await confirmed_once(stack, form["registrant"]["email"], token, user_id)
    tokens = await logged_in(stack, form["registrant"]["email"], created["customer_id"], user_id)
    await refresh_rotates_and_reuse_revokes(stack, tokens["refresh_token"])
    await audited_without_secrets(stack, created["registration_id"], token)


async def submitted_and_listed(stack: Stack, form: dict[str, Any]) -> dict[str, Any]:
    resp = await stack.client.post("/v1/registrations", json=form)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    assert created["status"] == "pending"
    assert await stack.outbox_events(created["customer_id"]) == []  # nothing before acceptance

    # The operator tooling sees it in the pending list.
    op = await stack.operator()
    pending = await stack.client.get("/v1/operator/registrations?status=pending", headers=op)
    assert pending.status_code == 200
    assert created["registration_id"] in [i["registration_id"] for i in pending.json()["items"]]
    return created


async def accepted_with_three_events(
    stack: Stack, form: dict[str, Any], created: dict[str, Any]
) -> list[CloudEvent]:
    customer_id, email = created["customer_id"], form["registrant"]["email"]
    accepted = await stack.client.post(
        f"/v1/operator/registrations/{created['registration_id']}/accept",
        headers=await stack.operator(),
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "customer_id": customer_id,
        "status": "active",
        # Listed, not confirmed: no link [9.1]; not a customer either.
        "affiliates": [
            {
                "enterprise_number": "0202239951",
                "customer_id": None,
                "confirmed": False,
                "has_access_owner": False,
            }
        ],
        "warnings": [],
    }

    # Four events, in one transaction, keyed by the customer (the last for its audit trail).
    events = await stack.outbox_events(customer_id)
    assert [e.type for e in events] == [
        "customer.registered",
        "user.created",
        "notification.requested",
        "audit.recorded",
    ]
    assert events[3].data["action"] == "registration.accepted"
    assert events[3].data["actor"]["kind"] == "operator"
    registered = parse_data(events[0], CustomerRegisteredV1)
    assert registered.enterprise_number == form["enterprise_number"]
    assert registered.affiliates == ["0202239951"]
    assert registered.wants_access_owner is True
    # What billing prints on the customer's invoices: the registered address and language.
    assert registered.address is not None
    assert registered.address.model_dump(mode="json") == {"country": "BE", **form["address"]}
    assert registered.language == form["registrant"]["locale"]
    user_created = parse_data(events[1], UserCreatedV1)
    assert user_created.registrant is True and user_created.profile == "access_owner"
    assert user_created.contract.kind == "management" and user_created.email == email
    assert registered.registrant_user_id == user_created.user_id
    note = parse_data(events[2], NotificationRequestedV1)
    assert note.channel == "email" and note.template == "user_confirmation"
    assert note.locale == "nl" and note.to.user_id == user_created.user_id
    assert note.to.email == email
    assert set(note.params) == {"first_name", "company_name", "confirm_url"}
    assert note.params["confirm_url"].startswith(
        f"{stack.settings.public_url}/v1/users/confirm?token="
    )
    token = confirm_token(events[2])
    # Public events carry no secrets; only the hash of the link token is stored.
    for e in events[:2]:
        assert token not in e.model_dump_json() and GOOD_PASSWORD not in e.model_dump_json()
    return events


async def confirmed_once(stack: Stack, email: str, token: str, user_id: str) -> None:
    # Not confirmed yet: same 401 as a wrong password.
    early = await stack.login(email, GOOD_PASSWORD)
    wrong = await stack.login(email, "not the password 1")
    assert early.status_code == wrong.status_code == 401
    assert early.json() == wrong.json()

    link = await stack.client.get("/v1/users/confirm", params={"token": token})
    assert link.status_code == 200 and link.json()["password_required"] is False
    confirmed = await stack.client.post("/v1/users/confirm", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"user_id": user_id, "status": "active"}
    again = await stack.client.post("/v1/users/confirm", json={"token": token})
    assert again.status_code == 410
    unknown = await stack.client.post("/v1/users/confirm", json={"token": "nope"})
    assert unknown.status_code == 400


async def logged_in(stack: Stack, email: str, customer_id: str, user_id: str) -> dict[str, Any]:
    """Login: an ES256 JWT with the claims every service expects; /v1/me answers."""
    login = await stack.client.post(
        "/v1/auth/token",
        json={"grant_type": "password", "username": email.upper(), "password": GOOD_PASSWORD},
    )
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    tokens: dict[str, Any] = login.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    header = jwt.get_unverified_header(tokens["access_token"])
    published = await stack.client.get("/.well-known/jwks.json")
    assert published.headers["cache-control"] == "public, max-age=60"
    jwks = published.json()
    assert header["alg"] == "ES256" and header["kid"] in [k["kid"] for k in jwks["keys"]]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "portal-identity" and claims["aud"] == "portal"
    assert claims["sub"] == user_id and claims["kind"] == "user"
    assert claims["cid"] == customer_id and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]

    me = await stack.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["user_id"] == user_id and body["customer_id"] == customer_id
    assert body["email"] == email and body["status"] == "active"
    assert body["profile"] == "access_owner" and body["locale"] == "nl"
    assert (body["first_name"], body["last_name"]) == ("Ann", "Peeters")
    return tokens


async def refresh_rotates_and_reuse_revokes(stack: Stack, first: str) -> None:
    # Each refresh token works once...
    rotated = await stack.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first}
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    # ...and presenting a used one revokes the whole family, including the newest.
    reused = await stack.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first}
    )
    assert reused.status_code == 401
    after = await stack.client.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": second}
    )
    assert after.status_code == 401
    assert reused.json() == after.json()


async def audited_without_secrets(stack: Stack, registration_id: str, token: str) -> None:
    # Everything in the journey is in the audit chain, and the chain holds.
    async with stack.db.sessions() as session:
        check = await audit.verify(session)
        assert check.ok, check
        actions = [e.action async for e in audit_entries(session)]
    for action in (
        "registration.accepted",
        "login.failed",
        "user.confirmed",
        "login.succeeded",
        "token.refresh_reused",
    ):
        assert action in actions
    # The stored registration no longer holds the password hash; the link only its hash.
    async with stack.db.sessions() as session:
        reg = await session.get(Registration, uuid.UUID(registration_id))
        assert reg is not None and reg.registrant_password_hash is None
        assert await session.get(ConfirmationToken, secret_hash(token)) is not None


async def test_accept_rules(stack: Stack) -> None:
    form, created = await register_and_accept(stack)
    op = await stack.operator()
    url = f"/v1/operator/registrations/{created['registration_id']}/accept"
    assert (await stack.client.post(url, headers=op)).status_code == 409
    unknown = await stack.client.post(
        "/v1/operator/registrations/00000000-0000-4000-8000-000000000000/accept", headers=op
    )
    assert unknown.status_code == 404
    assert (await stack.client.post(url)).status_code == 401

    # A customer's user is not operator staff.
    events = await stack.outbox_events(created["customer_id"])
    await stack.client.post("/v1/users/confirm", json={"token": confirm_token(events[2])})
    user = await stack.bearer(form["registrant"]["email"], GOOD_PASSWORD)
    other = await stack.client.post("/v1/registrations", json=registration_form())
    forbidden = await stack.client.post(
        f"/v1/operator/registrations/{other.json()['registration_id']}/accept", headers=user
    )
    assert forbidden.status_code == 403


async def test_duplicate_registration_is_409(stack: Stack) -> None:
    form = registration_form()
    assert (await stack.client.post("/v1/registrations", json=form)).status_code == 201
    n = form["enterprise_number"]
    same_number = registration_form(enterprise_number=f"BE{n[:4]}.{n[4:7]}.{n[7:]}")
    dup = await stack.client.post("/v1/registrations", json=same_number)
    assert dup.status_code == 409
    assert dup.headers["content-type"] == "application/problem+json"
    same_email = registration_form(registrant=form["registrant"])
    assert (await stack.client.post("/v1/registrations", json=same_email)).status_code == 409


async def test_no_access_owner_makes_the_registrant_access_manager(stack: Stack) -> None:
    _, created = await register_and_accept(stack, wants_access_owner=False)
    events = await stack.outbox_events(created["customer_id"])
    assert parse_data(events[1], UserCreatedV1).profile == "access_manager"
    assert parse_data(events[0], CustomerRegisteredV1).wants_access_owner is False


async def test_reject_frees_the_enterprise_number(stack: Stack) -> None:
    form = registration_form()
    created = (await stack.client.post("/v1/registrations", json=form)).json()
    rejected = await stack.client.post(
        f"/v1/operator/registrations/{created['registration_id']}/reject",
        headers=await stack.operator(),
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = registration_form(enterprise_number=form["enterprise_number"])
    assert (await stack.client.post("/v1/registrations", json=again)).status_code == 201
