"""Lists page by an opaque cursor: every item once, oldest account first; a cursor the
list did not hand out is a 400 problem."""

from __future__ import annotations

import uuid

import pytest

from servicekit.testing import FakeDelegation

from .conftest import billing_app

pytestmark = pytest.mark.integration


async def test_accounts_page_in_opening_order_and_refuse_a_foreign_cursor(tokens, operator):
    customer = uuid.uuid4()
    async with billing_app(tokens, FakeDelegation(), consumer_enabled=False) as (_app, client):
        opened = []
        for name in ("First", "Second", "Third"):
            r = await client.post(
                "/v1/operator/billing-accounts",
                json={"customer_id": str(customer), "kind": "mobile", "name": name},
                headers=operator,
            )
            opened.append(r.json()["billing_account_id"])

        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            r = await client.get(
                f"/v1/customers/{customer}/billing-accounts", params=params, headers=operator
            )
            assert r.status_code == 200, r.text
            seen += [a["billing_account_id"] for a in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == opened

        r = await client.get(
            f"/v1/customers/{customer}/billing-accounts",
            params={"cursor": "bm90LWEtY3Vyc29y"},
            headers=operator,
        )
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("/invalid-cursor")
