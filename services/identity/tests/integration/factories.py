"""Identity's test data: forms with random suffixes, and the actors the tests need
(an accepted customer's confirmed registrant, an invitee, a service), made through the
HTTP API like a client would.

Tests share one stack, so every e-mail address and enterprise number is fresh.
"""

from __future__ import annotations

import random
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

from contracts.envelope import CloudEvent, parse_data
from contracts.events.notification import NotificationRequestedV1

from .conftest import GOOD_PASSWORD, Stack

INVITEE_PASSWORD = "invitees own pass 77"

Headers = dict[str, str]


def suffix() -> str:
    return uuid.uuid4().hex[:8]


def enterprise_number() -> str:
    """A random valid KBO number: 8 digits (starting 0 or 1) + 97 - (them mod 97)."""
    base = random.randint(2_000_000, 19_999_999)
    return f"{base:08d}{97 - base % 97:02d}"


def registration_form(**over: Any) -> dict[str, Any]:
    s = suffix()
    body: dict[str, Any] = {
        "enterprise_number": enterprise_number(),
        "company_name": f"Acme {s} NV",
        "address": {
            "street": "Koning Albert II-laan",
            "number": "27",
            "postal_code": "1030",
            "city": "Brussel",
        },
        "contact_email": f"contact-{s}@acme.example",
        "affiliates": [],
        "registrant": {
            "email": f"ann-{s}@acme.example",
            "first_name": "Ann",
            "last_name": "Peeters",
            "locale": "nl",
            "password": GOOD_PASSWORD,
        },
    }
    body.update(over)
    return body


def invite_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"bob-{suffix()}@acme.example",
        "first_name": "Bob",
        "last_name": "Janssens",
        "locale": "fr",
        "mobile": "+32470123456",
        "contract": {"kind": "employee", "ends_on": None},
        "profile": "portal_user",
        "subprofiles": ["purchaser"],
    }
    body.update(over)
    return body


def confirm_token(event: CloudEvent) -> str:
    """The link token a notification.requested asks the notifier to mail."""
    url = parse_data(event, NotificationRequestedV1).params["confirm_url"]
    return parse_qs(urlparse(url).query)["token"][0]


async def events_of(stack: Stack, customer_id: str, type_: str) -> list[CloudEvent]:
    return [e for e in await stack.outbox_events(customer_id) if e.type == type_]


async def register_and_accept(stack: Stack, **over: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A registration operator staff accepted: (the form, the 201 body)."""
    form = registration_form(**over)
    resp = await stack.client.post("/v1/registrations", json=form)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    accepted = await stack.client.post(
        f"/v1/operator/registrations/{created['registration_id']}/accept",
        headers=await stack.operator(),
    )
    assert accepted.status_code == 200, accepted.text
    return form, created


async def active_user(stack: Stack) -> tuple[str, str]:
    """A confirmed registrant: (email, customer_id)."""
    form, created = await register_and_accept(stack)
    events = await stack.outbox_events(created["customer_id"])
    resp = await stack.client.post("/v1/users/confirm", json={"token": confirm_token(events[2])})
    assert resp.status_code == 200
    return form["registrant"]["email"], created["customer_id"]


OWNER_ACTIONS = {"user.manage", "user.remove", "access_owner.appoint", "customer.terminate"}
MANAGER_ACTIONS = {"user.manage", "user.remove"}


class Admins(dict[str, str]):
    """Access owners (user id -> customer id); ``managers`` likewise for managers."""

    def __init__(self) -> None:
        super().__init__()
        self.managers: dict[str, str] = {}


def allow_own_customer(owners: Admins):  # type: ignore[no-untyped-def]
    """Delegation double: an access owner administers its own customer only; a manager
    administers users but neither appoints owners nor gives notice."""

    def rule(subject: str, action: str, resource) -> bool:  # type: ignore[no-untyped-def]
        customer = str(resource.customer_id)
        if owners.get(subject) == customer:
            return action in OWNER_ACTIONS
        return owners.managers.get(subject) == customer and action in MANAGER_ACTIONS

    return rule


def owners_rule(stack: Stack) -> Admins:
    """Make the stack's delegation double answer ``allow_own_customer``; the owners."""
    owners = Admins()
    stack.delegation.rule = allow_own_customer(owners)
    return owners


async def admin_of_new_customer(stack: Stack, owners: dict[str, str]) -> tuple[Headers, str, str]:
    """A new customer's confirmed registrant, recorded in ``owners``: (bearer headers,
    customer_id, user_id)."""
    email, customer_id = await active_user(stack)
    headers = await stack.bearer(email, GOOD_PASSWORD)
    me = (await stack.client.get("/v1/me", headers=headers)).json()
    owners[me["user_id"]] = customer_id
    return headers, customer_id, me["user_id"]


async def confirmed_invitee(
    stack: Stack, admin: Headers, customer_id: str, **over: Any
) -> tuple[str, str]:
    """Invite a user and confirm them with INVITEE_PASSWORD: (email, user_id)."""
    body = invite_body(**over)
    resp = await stack.client.post(f"/v1/customers/{customer_id}/users", json=body, headers=admin)
    assert resp.status_code == 201, resp.text
    user_id = resp.json()["user_id"]
    note = [
        e
        for e in await events_of(stack, customer_id, "notification.requested")
        if str(parse_data(e, NotificationRequestedV1).to.user_id) == user_id
    ][-1]
    confirmed = await stack.client.post(
        "/v1/users/confirm", json={"token": confirm_token(note), "password": INVITEE_PASSWORD}
    )
    assert confirmed.status_code == 200, confirmed.text
    return body["email"], user_id


async def service_token(stack: Stack, client_id: str = "billing") -> Headers:
    resp = await stack.client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "dev-secret",
        },
    )
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}
