"""Billing runs survive a dead worker; one invoice per account and period; retention."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from billing import jobs
from billing.domain.calendar import Period
from billing.models import BillingRun, BillingRunAccount, Invoice, InvoicePdf, Sim, UsageRecord
from billing.service import retention
from servicekit.testing import FakeDelegation

from .conftest import billing_app

pytestmark = pytest.mark.integration


async def _account(client, operator, kind="mobile") -> str:
    r = await client.post(
        "/v1/operator/billing-accounts",
        json={"customer_id": str(uuid.uuid4()), "kind": kind, "name": "Acme"},
        headers=operator,
    )
    assert r.status_code == 201
    return r.json()["billing_account_id"]


async def _usage(client, operator, account: str, started: datetime) -> None:
    record = {
        "record_id": f"cdr-{uuid.uuid4().hex}",
        "billing_account_id": account,
        "line": "+32470000002",
        "kind": "voice",
        "destination": "021234567",
        "started_at": started.isoformat(),
        "duration_s": 90,
    }
    r = await client.post("/v1/operator/usage", json={"records": [record]}, headers=operator)
    assert r.status_code == 202


def _run_url(response) -> str:
    return f"/v1/operator/billing-runs/{response.json()['run_id']}"


async def _invoices(db, account: str) -> int:
    async with db.transaction() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(Invoice)
                .where(Invoice.billing_account_id == uuid.UUID(account))
            )
        )


async def test_a_run_left_running_by_a_dead_worker_is_resumed(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = Period.of(datetime.now(UTC)).previous()
        a, c = await _account(client, operator), await _account(client, operator, "fixed")
        await _usage(client, operator, a, period.starts_at + timedelta(days=2))
        await _usage(client, operator, c, period.starts_at + timedelta(days=2))

        r = await client.post(
            "/v1/operator/billing-runs",
            json={"period": str(period), "billing_account_ids": [a]},
            headers=operator,
        )
        await jobs.work_next_run(db, deps)
        first = (
            await client.get(f"/v1/operator/billing-runs/{r.json()['run_id']}", headers=operator)
        ).json()
        assert first["status"] == "done" and first["done_accounts"] == 1

        # A second run whose worker died right after listing its accounts.
        r = await client.post(
            "/v1/operator/billing-runs",
            json={"period": str(period), "billing_account_ids": [a, c]},
            headers=operator,
        )
        run_id = uuid.UUID(r.json()["run_id"])
        async with db.transaction() as s:
            await s.execute(
                update(BillingRun)
                .where(BillingRun.id == run_id)
                .values(
                    status="running",
                    lease_owner="dead-worker",
                    lease_until=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
            s.add_all(
                [BillingRunAccount(run_id=run_id, billing_account_id=uuid.UUID(x)) for x in (a, c)]
            )
        await jobs.work_next_run(db, deps)
        second = (await client.get(f"/v1/operator/billing-runs/{run_id}", headers=operator)).json()
        assert second["status"] == "done"
        assert (second["done_accounts"], second["total_accounts"]) == (2, 2)
        assert await _invoices(db, a) == 1
        assert await _invoices(db, c) == 1

        # The database itself refuses a second invoice for the same account and period.
        with pytest.raises(IntegrityError):
            async with db.transaction() as s:
                inv = await s.scalar(
                    select(Invoice).where(Invoice.billing_account_id == uuid.UUID(a))
                )
                s.add(
                    Invoice(
                        number="INV-TEST-1",
                        billing_account_id=inv.billing_account_id,
                        customer_id=inv.customer_id,
                        account_kind=inv.account_kind,
                        period=inv.period,
                        issued_at=inv.issued_at,
                        due_date=inv.due_date,
                        objection_deadline=inv.objection_deadline,
                        total_excl_vat=0,
                        vat=0,
                        total_incl_vat=0,
                    )
                )

        # Retention: 13 months later the mobile invoice and all call details are gone,
        # the fixed account's invoice and PDF are kept (24 months).
        later = datetime.now(UTC) + timedelta(days=400)
        async with db.transaction() as s:
            deleted = await retention.apply_retention(s, replace(deps, now=lambda: later))
        assert deleted.mobile_invoices == 1 and deleted.fixed_invoices == 0
        async with db.transaction() as s:
            assert await s.scalar(select(func.count()).select_from(UsageRecord)) == 0
            assert await s.scalar(select(func.count()).select_from(InvoicePdf)) == 1
        assert await _invoices(db, a) == 0 and await _invoices(db, c) == 1


async def test_a_sim_without_a_known_price_fails_its_account_not_the_run(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = Period.of(datetime.now(UTC)).previous()
        bad, good = await _account(client, operator), await _account(client, operator)
        async with db.transaction() as s:
            s.add(
                Sim(
                    sim_id=uuid.uuid4(),
                    customer_id=uuid.uuid4(),
                    billing_account_id=uuid.UUID(bad),
                    msisdn="+32470000003",
                    tariff_plan="UNKNOWN_PLAN",
                    options=[],
                    monthly_fee=None,
                    status="active",
                    active_since=period.starts_at,
                    changed_at=period.starts_at,
                )
            )
        r = await client.post(
            "/v1/operator/billing-runs",
            json={"period": str(period), "billing_account_ids": [bad, good]},
            headers=operator,
        )
        await jobs.work_next_run(db, deps)
        run = (
            await client.get(f"/v1/operator/billing-runs/{r.json()['run_id']}", headers=operator)
        ).json()
        assert run["status"] == "failed"
        assert (run["done_accounts"], run["failed_accounts"], run["total_accounts"]) == (1, 1, 2)
        assert await _invoices(db, bad) == 0
        assert await _invoices(db, good) == 1
        # unknown accounts in a run request: 422, nothing created
        r = await client.post(
            "/v1/operator/billing-runs",
            json={"period": str(period), "billing_account_ids": [str(uuid.uuid4())]},
            headers=operator,
        )
        assert r.status_code == 422
