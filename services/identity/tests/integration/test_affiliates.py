"""[9.1] An enterprise number listed on a registration gives nothing by itself: operator
staff confirm each affiliate when accepting, are warned when the affiliate already has
its own access owner, and that owner is told by mail."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.envelope import parse_data
from contracts.events.identity import CustomerRegisteredV1
from contracts.events.notification import NotificationRequestedV1

from .conftest import Stack
from .factories import enterprise_number, events_of, register_and_accept, registration_form

pytestmark = pytest.mark.integration


async def _submit(stack: Stack, affiliates: list[str]) -> dict[str, Any]:
    resp = await stack.client.post(
        "/v1/registrations", json=registration_form(affiliates=affiliates)
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _accept(stack: Stack, reg: dict[str, Any], body: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return await stack.client.post(
        f"/v1/operator/registrations/{reg['registration_id']}/accept",
        headers=await stack.operator(),
        **({"json": body} if body is not None else {}),
    )


async def test_confirming_an_affiliate_that_is_not_listed_or_not_a_customer_is_422(
    stack: Stack,
) -> None:
    child_form, child = await register_and_accept(stack)
    unknown = enterprise_number()
    reg = await _submit(stack, [child_form["enterprise_number"], unknown])
    customers, outbox = await stack.count("customers"), await stack.count("outbox")
    for confirmed in ([unknown], [enterprise_number()]):
        resp = await _accept(stack, reg, {"confirmed_affiliates": confirmed})
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert await stack.count("customers") == customers
    assert await stack.count("outbox") == outbox
    assert child  # untouched


async def test_a_confirmed_affiliate_with_its_own_owner_is_linked_with_a_warning_and_a_mail(
    stack: Stack,
) -> None:
    child_form, child = await register_and_accept(stack)
    unknown = enterprise_number()
    reg = await _submit(stack, [child_form["enterprise_number"], unknown])
    resp = await _accept(stack, reg, {"confirmed_affiliates": [child_form["enterprise_number"]]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["affiliates"] == [
        {
            "enterprise_number": child_form["enterprise_number"],
            "customer_id": child["customer_id"],
            "confirmed": True,
            "has_access_owner": True,
        },
        {
            "enterprise_number": unknown,
            "customer_id": None,
            "confirmed": False,
            "has_access_owner": False,
        },
    ]
    assert len(body["warnings"]) == 1 and child_form["enterprise_number"] in body["warnings"][0]
    registered = parse_data(
        (await events_of(stack, reg["customer_id"], "customer.registered"))[0],
        CustomerRegisteredV1,
    )
    assert [str(c) for c in registered.confirmed_affiliates] == [child["customer_id"]]
    told = [
        parse_data(e, NotificationRequestedV1)
        for e in await events_of(stack, child["customer_id"], "notification.requested")
    ]
    linked = [n for n in told if n.template == "affiliate_linked"]
    assert [n.to.email for n in linked] == [child_form["registrant"]["email"]]
    assert linked[0].params["parent_company"] == registered.company_name


async def test_accepting_without_a_decision_links_no_listed_affiliate(stack: Stack) -> None:
    child_form, child = await register_and_accept(stack)
    reg = await _submit(stack, [child_form["enterprise_number"]])
    resp = await _accept(stack, reg)
    assert resp.status_code == 200, resp.text
    assert [a["confirmed"] for a in resp.json()["affiliates"]] == [False]
    assert resp.json()["warnings"] == []
    registered = parse_data(
        (await events_of(stack, reg["customer_id"], "customer.registered"))[0],
        CustomerRegisteredV1,
    )
    assert registered.affiliates == [child_form["enterprise_number"]]
    assert registered.confirmed_affiliates == []
    told = await events_of(stack, child["customer_id"], "notification.requested")
    assert [
        e for e in told if parse_data(e, NotificationRequestedV1).template == "affiliate_linked"
    ] == []
