"""Token issuance: same answer for unknown and wrong, throttling, services, logout, keys."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import jwt
import pytest

from .conftest import GOOD_PASSWORD, OPERATOR_EMAIL, OPERATOR_PASSWORD, Stack, StackFactory
from .factories import (
    INVITEE_PASSWORD,
    active_user,
    admin_of_new_customer,
    confirmed_invitee,
    owners_rule,
)

pytestmark = pytest.mark.integration


async def test_wrong_password_and_unknown_user_look_the_same(stack: Stack) -> None:
    email, _ = await active_user(stack)
    wrong = await stack.login(email, "wrong password 123")
    unknown = await stack.login("nobody-here@acme.example", "wrong password 123")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")
    assert wrong.json()["error"] == "invalid_grant"


async def test_account_throttling(stack: Stack) -> None:
    email, _ = await active_user(stack)
    for _ in range(stack.settings.login_max_failures_per_account):
        assert (await stack.login(email, "wrong password 123")).status_code == 401
    blocked = await stack.login(email, GOOD_PASSWORD)  # even the right password now
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["retry-after"])
    assert 0 < retry_after <= stack.settings.login_failure_window_s
    # Unknown accounts are throttled the same way (a 429 reveals nothing).
    for _ in range(stack.settings.login_max_failures_per_account):
        await stack.login("ghost@acme.example", "wrong password 123")
    assert (await stack.login("ghost@acme.example", "x")).status_code == 429


async def test_an_address_wide_limit_never_locks_out_the_right_password(
    make_stack: StackFactory,
) -> None:
    """Everyone behind one gateway shares an address: failed guesses from it must not lock
    out the healthy accounts behind it, only slow further failing attempts."""
    stack = await make_stack(login_max_failures_per_ip=3, login_max_failures_per_account=10)
    for i in range(3):
        assert (await stack.login(f"user{i}@acme.example", "wrong password 1")).status_code == 401
    guess = await stack.login("user9@acme.example", "wrong password 1")
    assert guess.status_code == 429 and int(guess.headers["retry-after"]) > 0
    wrong = await stack.login(OPERATOR_EMAIL, "wrong password 1")
    assert wrong.status_code == 429
    right = await stack.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)
    assert right.status_code == 200, right.text
    # Forwarded headers are not trusted from an address that is not a configured proxy.
    spoofed = await stack.login(
        "user9@acme.example", "wrong password 1", headers={"x-forwarded-for": "10.9.9.9"}
    )
    assert spoofed.status_code == 429


async def test_wrong_secrets_sent_with_a_services_id_do_not_lock_the_service_out(
    stack: Stack,
) -> None:
    form = {"grant_type": "client_credentials", "client_id": "billing"}
    for _ in range(stack.settings.login_max_failures_per_account + 1):
        bad = await stack.client.post("/v1/auth/token", data={**form, "client_secret": "guess"})
        assert bad.status_code == 401
    good = await stack.client.post("/v1/auth/token", data={**form, "client_secret": "dev-secret"})
    assert good.status_code == 200, good.text


async def test_success_resets_the_account_counter(stack: Stack) -> None:
    email, _ = await active_user(stack)
    limit = stack.settings.login_max_failures_per_account
    for _ in range(limit - 1):
        await stack.login(email, "wrong password 123")
    assert (await stack.login(email, GOOD_PASSWORD)).status_code == 200
    for _ in range(limit - 1):
        await stack.login(email, "wrong password 123")
    assert (await stack.login(email, GOOD_PASSWORD)).status_code == 200


async def test_client_credentials(stack: Stack) -> None:
    resp = await stack.client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "billing",
            "client_secret": "dev-secret",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "refresh_token" not in body and body["token_type"] == "Bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["kind"] == "service" and claims["sub"] == "billing" and "cid" not in claims
    # HTTP Basic client authentication works too.
    basic = await stack.client.post(
        "/v1/auth/token", data={"grant_type": "client_credentials"}, auth=("fleet", "dev-secret")
    )
    assert basic.status_code == 200
    wrong = await stack.client.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials", "client_id": "billing", "client_secret": "nope"},
    )
    unknown = await stack.client.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials", "client_id": "mallory", "client_secret": "nope"},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    # No service's token names identity as its audience: /v1/me (for people) refuses it.
    me = await stack.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 401


async def test_a_notifier_token_carries_its_scopes_and_cannot_invite_a_user(stack: Stack) -> None:
    resp = await stack.client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "notifier",
            "client_secret": "dev-secret",
        },
    )
    token = resp.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert sorted(claims["scope"].split()) == [
        "billing:invoice_pdf.read",
        "delegation:rights.check",
    ]
    assert sorted(claims["aud"]) == ["billing", "delegation"]
    users_before = await stack.count("users")
    invite = await stack.client.post(
        f"/v1/customers/{uuid.uuid4()}/users",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "email": f"n{uuid.uuid4().hex[:8]}@example.com",
            "first_name": "N",
            "last_name": "T",
            "locale": "en",
            "profile": "access_owner",
            "contract": {"kind": "employee"},
        },
    )
    assert invite.status_code == 401
    assert invite.headers["content-type"].startswith("application/problem+json")
    assert await stack.count("users") == users_before


async def test_operator_logs_in_through_the_same_route(stack: Stack) -> None:
    headers = await stack.operator()
    claims = jwt.decode(headers["Authorization"][7:], options={"verify_signature": False})
    assert claims["kind"] == "operator" and "cid" not in claims
    me = await stack.client.get("/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == OPERATOR_EMAIL and me.json()["customer_id"] is None


async def test_logout_revokes_the_family(stack: Stack) -> None:
    email, _ = await active_user(stack)
    tokens = (await stack.login(email, GOOD_PASSWORD)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    out = await stack.client.post(
        "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    refresh = await stack.client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refresh.status_code == 401
    # Someone else's refresh token is not touched (and the answer does not tell).
    other = (await stack.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)).json()
    out = await stack.client.post(
        "/v1/auth/logout", json={"refresh_token": other["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    still = await stack.client.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]},
    )
    assert still.status_code == 200


async def test_signing_key_survives_restart_and_rotates(make_stack: StackFactory) -> None:
    first = await make_stack()
    jwks1 = (await first.client.get("/.well-known/jwks.json")).json()
    assert len(jwks1["keys"]) == 1 and "d" not in jwks1["keys"][0]
    old_token = await first.operator()

    # A second instance on the same database (or a restart) signs with the same key,
    # and the operator account is updated, not duplicated, with the new password.
    second = await make_stack(
        database_url=first.settings.database_url, operator_password="a-new-operator-pass-2"
    )
    assert (await second.client.get("/.well-known/jwks.json")).json() == jwks1
    assert (await second.client.get("/v1/me", headers=old_token)).status_code == 200
    assert (await second.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)).status_code == 401
    new_op = await second.bearer(OPERATOR_EMAIL, "a-new-operator-pass-2")

    rotated = await second.client.post("/v1/operator/signing-keys/rotate", headers=new_op)
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    jwks2 = (await second.client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks2["keys"]} == {jwks1["keys"][0]["kid"], new_kid}
    fresh = await second.bearer(OPERATOR_EMAIL, "a-new-operator-pass-2")
    assert jwt.get_unverified_header(fresh["Authorization"][7:])["kid"] == new_kid
    # Tokens signed with the retired key still verify, on both instances.
    assert (await second.client.get("/v1/me", headers=old_token)).status_code == 200
    assert (await first.client.get("/v1/me", headers=fresh)).status_code == 200


async def test_wrong_key_passphrase_refuses_to_start(make_stack: StackFactory) -> None:
    first = await make_stack()
    with pytest.raises(Exception, match="IDENTITY_KEY_PASSPHRASE"):
        await make_stack(
            database_url=first.settings.database_url, key_passphrase="not-the-passphrase"
        )


async def test_a_person_whose_contract_ended_can_no_longer_log_in(stack: Stack) -> None:
    """[9.2] The end of an employment contract ends the login, not only the rights."""
    owners = owners_rule(stack)
    admin, customer_id, _ = await admin_of_new_customer(stack, owners)
    ends = date.today() + timedelta(days=30)
    email, _ = await confirmed_invitee(
        stack, admin, customer_id, contract={"kind": "employee", "ends_on": ends.isoformat()}
    )
    first = await stack.login(email, INVITEE_PASSWORD)
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]

    deps = stack.app.state.deps
    stack.app.state.deps = replace(deps, now=lambda: datetime.now(UTC) + timedelta(days=40))
    try:
        after = await stack.login(email, INVITEE_PASSWORD)  # the right password
        assert after.status_code == 401 and after.json()["error"] == "invalid_grant"
        refreshed = await stack.client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert refreshed.status_code == 401, refreshed.text
    finally:
        stack.app.state.deps = deps
