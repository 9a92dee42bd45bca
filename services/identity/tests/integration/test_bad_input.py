"""Bad input is answered 4xx with a clear problem, and nothing is written."""

from __future__ import annotations

import pytest

from .conftest import Stack
from .factories import registration_form

pytestmark = pytest.mark.integration

TABLES = ("registrations", "customers", "users", "credentials", "outbox", "audit_log")


async def counts(stack: Stack) -> dict[str, int]:
    return {t: await stack.count(t) for t in TABLES}


async def test_bad_registrations_write_nothing(stack: Stack) -> None:
    before = await counts(stack)

    malformed = await stack.client.post(
        "/v1/registrations",
        content=b'{"enterprise_number": "0403170701",',
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"

    unknown = await stack.client.post(
        "/v1/registrations", json=registration_form(wants_acces_owner=False)
    )
    assert unknown.status_code == 422
    assert "wants_acces_owner" in [e["field"] for e in unknown.json()["errors"]]

    bad_number = await stack.client.post(
        "/v1/registrations", json=registration_form(enterprise_number="0403170702")
    )
    assert bad_number.status_code == 422
    assert [e["field"] for e in bad_number.json()["errors"]] == ["enterprise_number"]

    bad_affiliate = await stack.client.post(
        "/v1/registrations", json=registration_form(affiliates=["0403.170.702"])
    )
    assert bad_affiliate.status_code == 422

    form = registration_form()
    form["registrant"]["password"] = "weakpassword"
    weak = await stack.client.post("/v1/registrations", json=form)
    assert weak.status_code == 422
    problem = weak.json()
    assert [e["field"] for e in problem["errors"]] == ["registrant.password"]
    assert "weakpassword" not in weak.text  # the password is never echoed

    form = registration_form(contact_email="not-an-address")
    assert (await stack.client.post("/v1/registrations", json=form)).status_code == 422
    form = registration_form()
    form["registrant"]["locale"] = "de"
    assert (await stack.client.post("/v1/registrations", json=form)).status_code == 422

    assert await counts(stack) == before


async def test_bad_token_requests(stack: Stack) -> None:
    before = await counts(stack)
    unsupported = await stack.client.post("/v1/auth/token", data={"grant_type": "implicit"})
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    missing = await stack.client.post("/v1/auth/token", json={"grant_type": "password"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"username", "password"}
    malformed = await stack.client.post(
        "/v1/auth/token", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    text = await stack.client.post(
        "/v1/auth/token", content=b"grant_type=password", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415
    assert await counts(stack) == before


async def test_bad_confirmation_requests(stack: Stack) -> None:
    before = await counts(stack)
    unknown_field = await stack.client.post("/v1/users/confirm", json={"token": "x", "foo": 1})
    assert unknown_field.status_code == 422
    unknown_token = await stack.client.post("/v1/users/confirm", json={"token": "x"})
    assert unknown_token.status_code == 400
    assert await counts(stack) == before


async def test_routes_need_a_token(stack: Stack) -> None:
    for method, path in [
        ("GET", "/v1/me"),
        ("GET", "/v1/operator/registrations"),
        ("POST", "/v1/auth/logout"),
        ("GET", "/v1/customers/00000000-0000-4000-8000-000000000000/users"),
    ]:
        resp = await stack.client.request(method, path, headers={"Authorization": "Bearer x.y.z"})
        assert resp.status_code == 401, path
