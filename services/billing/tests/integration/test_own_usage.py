"""A service user sees the unbilled usage of their own SIM only (SPEC 8.6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing.models import Sim
from servicekit.delegation_client import Visible
from servicekit.testing import FakeDelegation

from .conftest import billing_app

pytestmark = pytest.mark.integration


async def test_service_user_sees_own_line_only(tokens, operator):
    customer, end_user = uuid.uuid4(), uuid.uuid4()
    delegation = FakeDelegation()  # no right on the billing account itself
    sim_id = uuid.uuid4()
    delegation.visible_map[(str(end_user), "sim", "usage.read")] = Visible(
        ids=frozenset({str(sim_id)})
    )
    async with billing_app(tokens, delegation, consumer_enabled=False) as (app, client):
        r = await client.post(
            "/v1/operator/billing-accounts",
            json={"customer_id": str(customer), "kind": "mobile", "name": "Mobiles"},
            headers=operator,
        )
        account = r.json()["billing_account_id"]
        when = datetime.now(UTC) - timedelta(days=1)
        async with app.state.kit.db.transaction() as s:
            s.add(
                Sim(
                    sim_id=sim_id,
                    customer_id=customer,
                    billing_account_id=uuid.UUID(account),
                    msisdn="+32470111111",
                    tariff_plan="SMART_S",
                    options=[],
                    status="active",
                    active_since=when,
                    changed_at=when,
                )
            )
        records = [
            {
                "record_id": f"cdr-{uuid.uuid4().hex}",
                "billing_account_id": account,
                "line": line,
                "kind": "sms",
                "destination": "0475123456",
                "started_at": when.isoformat(),
                "count": 1,
            }
            for line in ("+32470111111", "+32470222222")
        ]
        r = await client.post("/v1/operator/usage", json={"records": records}, headers=operator)
        assert r.status_code == 202

        mine = tokens.headers(end_user, customer_id=customer)
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=mine)
        assert r.status_code == 200, r.text
        assert [i["line"] for i in r.json()["items"]] == ["+32470111111"]
        assert r.json()["totals"]["total_excl_vat"] == "0.08"

        nobody = tokens.headers(uuid.uuid4(), customer_id=customer)
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=nobody)
        assert r.status_code == 404
