"""A service user sees the unbilled usage of their own SIM only (SPEC 8.6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from servicekit.delegation_client import Visible
from servicekit.testing import FakeDelegation

from .conftest import billing_app
from .factories import add_sim, create_account, msisdn, post_usage, usage_record

pytestmark = pytest.mark.integration


async def test_service_user_sees_own_line_only(tokens, operator):
    customer, end_user = uuid.uuid4(), uuid.uuid4()
    delegation = FakeDelegation()  # no right on the billing account itself
    async with billing_app(tokens, delegation, consumer_enabled=False) as (app, client):
        account = await create_account(client, operator, customer=customer)
        when = datetime.now(UTC) - timedelta(days=1)
        mine, theirs = msisdn(), msisdn()
        sim = await add_sim(
            app.state.kit.db, account=account, customer=customer, line=mine, since=when
        )
        delegation.visible_map[(str(end_user), "sim", "usage.read")] = Visible(
            ids=frozenset({str(sim.sim_id)})
        )
        records = [
            usage_record(account, "sms", "0475123456", when, line=line, count=1)
            for line in (mine, theirs)
        ]
        assert (await post_usage(client, operator, records)).status_code == 202

        user = tokens.headers(end_user, customer_id=customer)
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=user)
        assert r.status_code == 200, r.text
        assert [i["line"] for i in r.json()["items"]] == [mine]
        assert r.json()["totals"]["total_excl_vat"] == "0.08"

        nobody = tokens.headers(uuid.uuid4(), customer_id=customer)
        r = await client.get(f"/v1/billing-accounts/{account}/unbilled-usage", headers=nobody)
        assert r.status_code == 404
