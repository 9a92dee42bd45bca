"""Billing owns the price catalogue and charges the contract (ADR 0014), on PostgreSQL and
Kafka: the catalogue leaves through the outbox; 500 MB on a Smart S SIM cost nothing on
the invoice while the unbilled view shows them at standard prices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.domain.calendar import Period
from billing.models import CatalogueVersionRow, UsageRecord
from billing.service import accounts
from contracts.events.fleet import SimChangedV1
from servicekit.testing import FakeDelegation

from .conftest import billing_app, find_on_topic, wait_for
from .factories import add_sim, create_account, msisdn, post_usage, usage_record

pytestmark = pytest.mark.integration

MB = 1_000_000


async def test_the_catalogue_is_stored_and_published_through_the_outbox(tokens, operator):
    async with billing_app(tokens, FakeDelegation(), consumer_enabled=False) as (app, _client):

        async def stored() -> CatalogueVersionRow | None:
            async with app.state.kit.db.transaction() as s:
                return await s.scalar(select(CatalogueVersionRow))

        row = await wait_for(stored)
        published = await find_on_topic(
            "catalogue.published",
            lambda v: (
                v.get("data", {}).get("published_at")
                == row.published_at.isoformat().replace("+00:00", "Z")
            ),
        )
    data = published["data"]
    assert (data["catalogue_version"], data["valid_from"]) == (1, "2020-01-01T00:00:00+01:00")
    smart_s = next(p for p in data["tariff_plans"] if p["code"] == "SMART_S")
    assert smart_s == {**smart_s, "monthly_fee": "15.00", "data_mb": 5120, "voice_min": 300}
    intl = next(o for o in data["options"] if o["code"] == "INTL_CALLS")
    assert intl["voice_rates"] == {"eu": "0.10", "world": "0.10"}


async def test_500_mb_on_a_smart_s_sim_are_charged_nothing_on_the_invoice(tokens, operator):
    customer, owner = uuid.uuid4(), uuid.uuid4()
    delegation = FakeDelegation(lambda subject, action, resource: subject == str(owner))
    async with billing_app(tokens, delegation, consumer_enabled=False) as (app, client):
        account = await create_account(client, operator, customer=customer)
        period = Period.of(datetime.now(UTC)).previous()
        line = msisdn()
        since = period.starts_at - timedelta(days=40)
        await add_sim(app.state.kit.db, account=account, customer=customer, line=line, since=since)
        day = period.starts_at + timedelta(days=2)
        records = [
            usage_record(account, "data", "internet", day, line=line, volume_bytes=300 * MB),
            usage_record(
                account, "data", "internet", day + timedelta(hours=1), line=line,
                volume_bytes=200 * MB,
            ),
        ]  # fmt: skip
        assert (await post_usage(client, operator, records)).status_code == 202

        user = tokens.headers(owner, customer_id=customer)
        url = f"/v1/billing-accounts/{account}/unbilled-usage"
        unbilled = (await client.get(url, headers=user)).json()
        assert unbilled["totals"]["total_excl_vat"] == "5.00"  # standard prices, no allowance

        body = {"period": str(period), "billing_account_ids": [account]}
        r = await client.post("/v1/operator/billing-runs", json=body, headers=operator)
        run_url = f"/v1/operator/billing-runs/{r.json()['run_id']}"

        async def done() -> bool:
            return bool((await client.get(run_url, headers=operator)).json()["status"] == "done")

        await wait_for(done)
        async with app.state.kit.db.transaction() as s:
            rows = list(await s.scalars(select(UsageRecord).where(UsageRecord.line == line)))
        assert [r.amount for r in rows] == [Decimal("0.00"), Decimal("0.00")]
        invoice = (await client.get(f"/v1/invoices/{rows[0].invoice_id}", headers=user)).json()
    assert [(x["category"], x["amount_excl_vat"]) for x in invoice["lines"]] == [
        ("subscription", "15.00"),
        ("data", "0.00"),
    ]
    assert invoice["totals"] == {
        "total_excl_vat": "15.00",
        "vat": "3.15",
        "total_incl_vat": "18.15",
    }


async def test_a_plan_change_from_sim_changed_prorates_fees_and_carries_the_used_data(
    tokens, operator
):
    """November 2026 (30 days): Smart S until the 11th, then Smart M, from sim.changed."""
    customer, owner = uuid.uuid4(), uuid.uuid4()
    delegation = FakeDelegation(lambda subject, action, resource: subject == str(owner))
    period = Period(2026, 11)
    async with billing_app(tokens, delegation, consumer_enabled=False) as (app, client):
        account = await create_account(client, operator, customer=customer)
        sim_id, line = uuid.uuid4(), msisdn()
        changes = [
            ("provisioned", "SMART_S", period.starts_at - timedelta(days=40)),
            ("tariff_plan_changed", "SMART_M", period.starts_at + timedelta(days=10, hours=9)),
        ]
        for change, plan, at in changes:
            async with app.state.kit.db.transaction() as s:
                await accounts.apply_sim_change(
                    s,
                    SimChangedV1(
                        sim_id=sim_id,
                        customer_id=customer,
                        billing_account_id=uuid.UUID(account),
                        msisdn=line,
                        change=change,
                        tariff_plan=plan,
                        changed_at=at,
                    ),
                )
        on = period.starts_at
        records = [
            usage_record(account, "data", "internet", on + timedelta(days=4), line=line,
                         volume_bytes=4_000 * MB),  # Smart S: within its 5,120 MB
            usage_record(account, "data", "internet", on + timedelta(days=14), line=line,
                         volume_bytes=20_000 * MB),  # Smart M: 16,480 MB left, 3,520 beyond
        ]  # fmt: skip
        assert (await post_usage(client, operator, records)).status_code == 202
        body = {"period": str(period), "billing_account_ids": [account]}
        r = await client.post("/v1/operator/billing-runs", json=body, headers=operator)
        run_url = f"/v1/operator/billing-runs/{r.json()['run_id']}"

        async def done() -> bool:
            return bool((await client.get(run_url, headers=operator)).json()["status"] == "done")

        await wait_for(done)
        user = tokens.headers(owner, customer_id=customer)
        [listed] = (
            await client.get(f"/v1/billing-accounts/{account}/invoices", headers=user)
        ).json()["items"]
        invoice = (await client.get(f"/v1/invoices/{listed['invoice_id']}", headers=user)).json()
    lines = [(x["category"], x["quantity"], x["amount_excl_vat"]) for x in invoice["lines"]]
    assert lines == [
        ("subscription", 10, "5.00"),  # 1-10 November: 10/30 of 15.00
        ("subscription", 20, "16.67"),  # 11-30 November: 20/30 of 25.00
        ("data", 24_000_000_000, "35.20"),
    ]
    assert invoice["lines"][0]["description"].endswith("01/11-10/11, 10/30 days")


async def test_a_late_record_is_charged_beyond_what_its_periods_invoice_used(tokens, operator):
    customer, owner = uuid.uuid4(), uuid.uuid4()
    delegation = FakeDelegation(lambda subject, action, resource: subject == str(owner))
    october, november = Period(2026, 10), Period(2026, 11)
    async with billing_app(tokens, delegation, consumer_enabled=False) as (app, client):
        account = await create_account(client, operator, customer=customer)
        line = msisdn()
        since = october.starts_at - timedelta(days=40)
        await add_sim(app.state.kit.db, account=account, customer=customer, line=line, since=since)
        user = tokens.headers(owner, customer_id=customer)

        async def bill(period: Period, day: int, volume_mb: int) -> dict:
            on = period.starts_at + timedelta(days=day)
            record = usage_record(account, "data", "internet", on, line=line)
            record["volume_bytes"] = volume_mb * MB
            assert (await post_usage(client, operator, [record])).status_code == 202
            body = {"period": str(period), "billing_account_ids": [account]}
            r = await client.post("/v1/operator/billing-runs", json=body, headers=operator)
            url = f"/v1/operator/billing-runs/{r.json()['run_id']}"

            async def done() -> bool:
                return bool((await client.get(url, headers=operator)).json()["status"] == "done")

            await wait_for(done)
            r = await client.get(f"/v1/billing-accounts/{account}/invoices", headers=user)
            [inv] = [i for i in r.json()["items"] if i["period"] == str(period)]
            return (await client.get(f"/v1/invoices/{inv['invoice_id']}", headers=user)).json()

        first = await bill(october, 2, 5_000)  # within Smart S's 5,120 MB
        late = await bill(october, 20, 300)  # an October record, after October's invoice
        assert late["period"] == str(october) and late["invoice_id"] == first["invoice_id"]
        second = await bill(november, 1, 0)
    data = [
        (x["category"], x["amount_excl_vat"])
        for x in second["lines"]
        if x["category"] != "subscription"
    ]
    # November's invoice: the late October record pays its 180 MB beyond October's
    # remaining 120 MB (1.80); November's own 0 MB session costs nothing.
    assert data == [("data", "1.80")]
