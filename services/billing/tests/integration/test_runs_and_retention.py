"""Billing runs survive a dead worker; one invoice per account and period; retention."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from billing import jobs
from billing.domain.calendar import Period
from billing.models import BillingRun, BillingRunAccount, Invoice, InvoicePdf, UsageRecord
from billing.service import retention
from servicekit.db import Database
from servicekit.testing import FakeDelegation

from .conftest import billing_app
from .factories import add_sim, create_account, post_usage, usage_record

pytestmark = pytest.mark.integration


async def _invoices(db: Database, account: str) -> int:
    async with db.transaction() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(Invoice)
                .where(Invoice.billing_account_id == uuid.UUID(account))
            )
        )


async def _request_run(client, operator, period: Period, accounts: list[str]) -> str:
    r = await client.post(
        "/v1/operator/billing-runs",
        json={"period": str(period), "billing_account_ids": accounts},
        headers=operator,
    )
    assert r.status_code == 202, r.text
    return str(r.json()["run_id"])


async def _run(client, operator, run_id: str) -> dict:
    r = await client.get(f"/v1/operator/billing-runs/{run_id}", headers=operator)
    return r.json()


async def _die_after_listing(db: Database, run_id: str, accounts: list[str]) -> None:
    """What a worker leaves behind when it dies right after listing the run's accounts."""
    async with db.transaction() as s:
        await s.execute(
            update(BillingRun)
            .where(BillingRun.id == uuid.UUID(run_id))
            .values(
                status="running",
                lease_owner="dead-worker",
                lease_until=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
        s.add_all(
            [
                BillingRunAccount(run_id=uuid.UUID(run_id), billing_account_id=uuid.UUID(a))
                for a in accounts
            ]
        )


async def test_a_run_left_running_by_a_dead_worker_is_resumed(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = Period.of(datetime.now(UTC)).previous()
        a = await create_account(client, operator)
        c = await create_account(client, operator, kind="fixed")
        day = period.starts_at + timedelta(days=2)
        for account in (a, c):
            record = usage_record(account, "voice", "021234567", day, duration_s=90)
            assert (await post_usage(client, operator, [record])).status_code == 202

        run_id = await _request_run(client, operator, period, [a])
        await jobs.work_next_run(db, deps)
        first = await _run(client, operator, run_id)
        assert first["status"] == "done" and first["done_accounts"] == 1

        run_id = await _request_run(client, operator, period, [a, c])
        await _die_after_listing(db, run_id, [a, c])
        await jobs.work_next_run(db, deps)
        second = await _run(client, operator, run_id)
        assert second["status"] == "done"
        assert (second["done_accounts"], second["total_accounts"]) == (2, 2)
        assert await _invoices(db, a) == 1
        assert await _invoices(db, c) == 1

        await _a_second_invoice_is_refused(db, a)
        await _retention_keeps_fixed_invoices_longer(db, deps, mobile=a, fixed=c)


async def _a_second_invoice_is_refused(db: Database, account: str) -> None:
    """The database itself refuses a second invoice for the same account and period."""
    with pytest.raises(IntegrityError):
        async with db.transaction() as s:
            inv = await s.scalar(
                select(Invoice).where(Invoice.billing_account_id == uuid.UUID(account))
            )
            s.add(
                Invoice(
                    number=f"INV-TEST-{uuid.uuid4().hex[:6]}",
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


async def _retention_keeps_fixed_invoices_longer(db, deps, *, mobile: str, fixed: str) -> None:
    """13 months later the mobile invoice and all call details are gone; of the fixed
    account's invoice only the header and the PDF are kept (24 months)."""
    later = datetime.now(UTC) + timedelta(days=400)
    async with db.transaction() as s:
        deleted = await retention.apply_retention(s, replace(deps, now=lambda: later))
    assert deleted.mobile_invoices == 1 and deleted.fixed_invoices == 0
    assert deleted.fixed_invoice_details == 1
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(UsageRecord)) == 0
        assert await s.scalar(select(func.count()).select_from(InvoicePdf)) == 1
    assert await _invoices(db, mobile) == 0 and await _invoices(db, fixed) == 1


async def test_a_sim_without_a_known_price_fails_its_account_not_the_run(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = Period.of(datetime.now(UTC)).previous()
        bad, good = await create_account(client, operator), await create_account(client, operator)
        await add_sim(db, account=bad, tariff_plan="UNKNOWN_PLAN", since=period.starts_at)
        run_id = await _request_run(client, operator, period, [bad, good])
        await jobs.work_next_run(db, deps)
        run = await _run(client, operator, run_id)
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


async def test_two_workers_running_overlapping_runs_make_each_invoice_once(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = Period.of(datetime.now(UTC)).previous()
        accounts = [await create_account(client, operator) for _ in range(3)]
        day = period.starts_at + timedelta(days=2)
        for account in accounts:
            records = [usage_record(account, "voice", "021234567", day, duration_s=90)
                       for _ in range(3)]  # fmt: skip
            assert (await post_usage(client, operator, records)).status_code == 202
        first = await _request_run(client, operator, period, accounts)
        second = await _request_run(client, operator, period, accounts)

        other = replace(deps, instance_id="other-instance")
        await asyncio.gather(jobs.work_next_run(db, deps), jobs.work_next_run(db, other))

        for run_id in (first, second):
            run = await _run(client, operator, run_id)
            assert (run["status"], run["done_accounts"], run["total_accounts"]) == ("done", 3, 3)
        for account in accounts:
            assert await _invoices(db, account) == 1
        async with db.transaction() as s:
            on_invoices = await s.scalar(
                select(func.count())
                .select_from(UsageRecord)
                .join(Invoice, Invoice.id == UsageRecord.invoice_id)
            )
        assert on_invoices == 9  # every record on exactly one (existing) invoice
