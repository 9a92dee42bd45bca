"""Access: registration → acceptance → confirmation mail → login → delegated rights."""

import uuid
from typing import Any

import pytest
from portal_client import Portal, Sinks, eventually, unique_email

pytestmark = pytest.mark.e2e


def test_registrant_becomes_access_owner_and_may_read_only_own_customers_invoices(
    portal: Portal, sinks: Sinks
) -> None:
    reg = portal.register()
    # Before acceptance and confirmation nobody can log in with these credentials.
    early = portal.identity.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": reg["email"], "password": reg["password"]},
    )
    assert early.status_code == 401

    accepted = portal.accept(reg["registration_id"])
    assert accepted == {
        "customer_id": reg["customer_id"],
        "status": "active",
        "affiliates": [],  # none listed, none confirmed [9.1]
        "warnings": [],
    }
    mail = sinks.wait_mail(reg["email"])[0]
    token = sinks.link_token(mail)

    still_unconfirmed = portal.identity.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": reg["email"], "password": reg["password"]},
    )
    assert still_unconfirmed.status_code == 401

    assert portal.identity.post("/v1/users/confirm", json={"token": token}).status_code == 200
    # The link works once.
    assert portal.identity.post("/v1/users/confirm", json={"token": token}).status_code >= 400

    headers = {"Authorization": f"Bearer {portal.login(reg['email'], reg['password'])}"}
    me = portal.identity.get("/v1/me", headers=headers).json()
    assert me["customer_id"] == reg["customer_id"]
    assert me["email"] == reg["email"] and me["status"] == "active"

    own = {"type": "customer", "id": reg["customer_id"], "customer_id": reg["customer_id"]}
    decision = eventually(
        lambda: (d := portal.check(headers, me["user_id"], "invoice.read", own))["allowed"] and d,
        what="delegation to make the registrant access owner",
    )
    assert decision["allowed"] is True

    other = str(uuid.uuid4())
    denied = portal.check(
        headers,
        me["user_id"],
        "invoice.read",
        {"type": "customer", "id": other, "customer_id": other},
    )
    assert denied["allowed"] is False and denied["reason"]
    # Exactly one confirmation mail: user.created does not send a second one.
    assert len(sinks.mails(reg["email"])) == 1


def test_registrant_without_access_owner_becomes_access_manager_who_cannot_read_invoices(
    portal: Portal, sinks: Sinks
) -> None:
    user = portal.onboard(sinks, wants_access_owner=False)
    own = {"type": "customer", "id": user["customer_id"], "customer_id": user["customer_id"]}
    manage = eventually(
        lambda: (
            (d := portal.check(user["headers"], user["user_id"], "user.manage", own))["allowed"]
            and d
        ),
        what="access manager rights",
    )
    assert manage["allowed"] is True
    read = portal.check(user["headers"], user["user_id"], "invoice.read", own)
    assert read["allowed"] is False


def test_a_user_cannot_ask_about_another_customers_user(portal: Portal, sinks: Sinks) -> None:
    a = portal.onboard(sinks)
    b = portal.onboard(sinks)
    resp = portal.delegation.post(
        "/v1/check",
        headers=a["headers"],
        json={
            "subject": b["user_id"],
            "action": "invoice.read",
            "resource": {
                "type": "customer",
                "id": b["customer_id"],
                "customer_id": b["customer_id"],
            },
        },
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_bad_registrations_are_refused_with_problem_json_and_change_nothing(
    portal: Portal,
) -> None:
    good = {
        "enterprise_number": "0403170701",
        "company_name": "X",
        "address": {
            "street": "a",
            "number": "1",
            "postal_code": "1000",
            "city": "B",
            "country": "BE",
        },
        "contact_email": "c@example.be",
        "registrant": {
            "email": "r@example.be",
            "first_name": "A",
            "last_name": "B",
            "locale": "nl",
            "password": "Correct-Horse-Battery-9",
        },
    }
    cases = [
        ({**good, "enterprise_number": "0403170702"}, 422),  # checksum wrong
        ({**good, "registrant": {**good["registrant"], "password": "short"}}, 422),
        ({**good, "unexpected": True}, 422),
    ]
    for body, status in cases:
        resp = portal.identity.post("/v1/registrations", json=body)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    malformed = portal.identity.post(
        "/v1/registrations", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    # Nothing was written: the same enterprise number can still register.
    resp = portal.identity.post(
        "/v1/registrations",
        json={
            **good,
            "registrant": {**good["registrant"], "email": f"{uuid.uuid4().hex}@example.be"},
        },
    )
    assert resp.status_code == 201, resp.text
    no_token = portal.identity.get("/v1/me")
    assert no_token.status_code == 401


def test_a_grant_cannot_scope_another_customers_billing_account(
    portal: Portal, sinks: Sinks
) -> None:
    """The attack: an access owner names another customer's billing account in a grant,
    so that lists filtered by its own customer in the URL would show that account."""
    ours, theirs = portal.onboard(sinks), portal.onboard(sinks)
    op = portal.operator()

    def account_of(customer: dict) -> str:  # type: ignore[type-arg]
        resp = portal.billing.post(
            "/v1/operator/billing-accounts",
            headers=op,
            json={"customer_id": customer["customer_id"], "kind": "mobile", "name": "Team"},
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["billing_account_id"])

    own_account, their_account = account_of(ours), account_of(theirs)
    invited = portal.identity.post(
        f"/v1/customers/{ours['customer_id']}/users",
        headers=ours["headers"],
        json={
            "email": unique_email("scoped"),
            "first_name": "Sam",
            "last_name": "Peeters",
            "locale": "en",
            "contract": {"kind": "employee"},
            "profile": "portal_user",
        },
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["user_id"]
    path = f"/v1/customers/{ours['customer_id']}/assignments"

    def grant(account: str) -> Any:
        body = {
            "user_id": user_id,
            "profile": "portal_user",
            "scope": {"applications": ["my-invoice-online"], "billing_accounts": [account]},
            "permissions": ["read"],
        }

        # The invitee reaches delegation through Kafka: 404 until it has.
        def attempt() -> Any:
            resp = portal.delegation.post(path, headers=ours["headers"], json=body)
            return None if resp.status_code == 404 else resp

        return eventually(attempt, what="the invitee known to delegation")

    refused = grant(their_account)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "scope.billing_accounts.0"
    granted = grant(own_account)
    assert granted.status_code == 201, granted.text

    # The grant, not the refused attempt, reaches the customer's audit trail in identity
    # (delegation's outbox -> audit.recorded -> identity's chain), read by its access owner.
    trail = f"/v1/customers/{ours['customer_id']}/audit-events"

    def grants_in_trail() -> Any:
        resp = portal.identity.get(
            trail, headers=ours["headers"], params={"action": "assignment.granted"}
        )
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        mine = [
            i
            for i in items
            if i["target"]["user_id"] == user_id and i["details"]["billing_accounts"]
        ]
        return mine or None

    entries = eventually(grants_in_trail, what="the grant in the customer's audit trail")
    assert [e["target"]["assignment_id"] for e in entries] == [granted.json()["assignment_id"]]
    assert entries[0]["actor"] == {"kind": "user", "id": ours["user_id"]}
    assert entries[0]["source"] == "delegation" and entries[0]["details"]["billing_accounts"] == 1
    assert portal.identity.get(trail, headers=theirs["headers"]).status_code == 404
