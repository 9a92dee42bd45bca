"""The scheduler closes each ended period once, whatever the instances; retention at each
of its boundaries (call details 6 months, invoice data 12 months, a fixed account's PDF 24)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from billing import jobs
from billing.domain.calendar import due_period, months_before
from billing.models import (
    BillingAccount,
    BillingRun,
    Invoice,
    InvoiceLine,
    InvoicePdf,
    Objection,
    ScheduledPeriod,
    UsageRecord,
)
from billing.service import retention, runs
from servicekit.db import Database
from servicekit.testing import FakeDelegation

from .conftest import billing_app
from .factories import create_account, post_usage, usage_record

pytestmark = pytest.mark.integration


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def _schedule_once(db: Database, deps) -> BillingRun | None:  # type: ignore[no-untyped-def]
    async with db.transaction() as s:
        return await runs.schedule_due_run(s, deps)


async def test_the_scheduler_bills_every_account_of_an_ended_period_once(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        deps, db = app.state.deps, app.state.kit.db
        period = due_period(deps.now(), delay=timedelta(hours=8))
        accounts = [await create_account(client, operator) for _ in range(2)]
        accounts.append(await create_account(client, operator, kind="fixed"))
        late = await create_account(client, operator)  # opened after the period: not billed
        async with db.transaction() as s:
            await s.execute(
                update(BillingAccount)
                .where(BillingAccount.id.in_([uuid.UUID(a) for a in accounts]))
                .values(created_at=period.starts_at)
            )
        day = period.starts_at + timedelta(days=3)
        for account in accounts:
            record = usage_record(account, "sms", "0470123456", day, count=2)
            assert (await post_usage(client, operator, [record])).status_code == 202

        # Two instances' schedulers at the same moment: one run for the period.
        first, second = await asyncio.gather(_schedule_once(db, deps), _schedule_once(db, deps))
        scheduled = [r for r in (first, second) if r is not None]
        assert len(scheduled) == 1 and scheduled[0].requested_by == "schedule"
        assert await _count(db, ScheduledPeriod, ScheduledPeriod.period == str(period)) == 1
        assert await _schedule_once(db, deps) is None  # and not again later

        await jobs.work_next_run(db, deps)
        run = (
            await client.get(f"/v1/operator/billing-runs/{scheduled[0].id}", headers=operator)
        ).json()
        assert (run["status"], run["done_accounts"], run["total_accounts"]) == ("done", 3, 3)
        for account in accounts:
            assert await _count(db, Invoice, Invoice.billing_account_id == uuid.UUID(account)) == 1
        assert await _count(db, Invoice, Invoice.billing_account_id == uuid.UUID(late)) == 0


async def test_the_scheduler_waits_for_the_delay_after_the_period_ends(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, _client):
        deps, db = app.state.deps, app.state.kit.db
        month_start = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 November, Brussels
        early = replace(deps, now=lambda: month_start + timedelta(hours=7, minutes=59))
        run = await _schedule_once(db, early)
        assert run is not None and run.period == "2026-09"  # October is not due yet
        due = replace(deps, now=lambda: month_start + timedelta(hours=8))
        run = await _schedule_once(db, due)
        assert run is not None and run.period == "2026-10"


async def _invoice_two_accounts(app, client, operator) -> tuple[str, str, datetime]:  # type: ignore[no-untyped-def]
    """One mobile and one fixed account invoiced for last month, each with an objection;
    returns both ids and the moment the invoices were issued."""
    deps, db = app.state.deps, app.state.kit.db
    period = due_period(deps.now(), delay=timedelta(0))
    mobile = await create_account(client, operator)
    fixed = await create_account(client, operator, kind="fixed")
    day = period.starts_at + timedelta(days=2)
    for account in (mobile, fixed):
        record = usage_record(account, "voice", "021234567", day, duration_s=60)
        assert (await post_usage(client, operator, [record])).status_code == 202
    r = await client.post(
        "/v1/operator/billing-runs",
        json={"period": str(period), "billing_account_ids": [mobile, fixed]},
        headers=operator,
    )
    assert r.status_code == 202, r.text
    await jobs.work_next_run(db, deps)
    async with db.transaction() as s:
        for inv in await s.scalars(select(Invoice)):
            s.add(
                Objection(
                    invoice_id=inv.id, customer_id=inv.customer_id, reason="r", submitted_by="u"
                )
            )
        # A fixed issue instant, so the boundaries below never depend on today's date.
        issued = datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
        await s.execute(update(Invoice).values(issued_at=issued))
    return mobile, fixed, issued


def _months_after(moment: datetime, months: int) -> datetime:
    """The same instant ``months`` later; for days up to 28, ``months_before`` undoes it."""
    assert moment.day <= 28
    year, month = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    later = moment.replace(year=year, month=month + 1)
    assert months_before(later, months) == moment
    return later


async def _retain_at(app, moment: datetime) -> retention.Deleted:  # type: ignore[no-untyped-def]
    async with app.state.kit.db.transaction() as s:
        return await retention.apply_retention(s, replace(app.state.deps, now=lambda: moment))


async def test_retention_at_each_boundary(tokens, operator):
    async with billing_app(
        tokens, FakeDelegation(), billing_worker_enabled=False, consumer_enabled=False
    ) as (app, client):
        db = app.state.kit.db
        mobile, fixed, issued = await _invoice_two_accounts(app, client, operator)
        async with db.transaction() as s:
            oldest_call = await s.scalar(select(func.min(UsageRecord.started_at)))

        # Call details: kept until exactly 6 months after the call, gone just after.
        six = _months_after(oldest_call, 6)
        assert (await _retain_at(app, six)).usage_records == 0
        assert (await _retain_at(app, six + timedelta(microseconds=1))).usage_records == 2
        assert await _count(db, UsageRecord) == 0

        # Invoice data: 12 months for every account; a fixed account keeps its PDF.
        twelve = _months_after(issued, 12)
        kept = await _retain_at(app, twelve - timedelta(seconds=1))
        assert (kept.mobile_invoices, kept.fixed_invoice_details) == (0, 0)
        gone = await _retain_at(app, twelve + timedelta(seconds=1))
        assert (gone.mobile_invoices, gone.fixed_invoice_details, gone.fixed_invoices) == (1, 1, 0)
        assert await _count(db, Invoice) == 1 and await _count(db, InvoicePdf) == 1
        assert await _count(db, InvoiceLine) == 0 and await _count(db, Objection) == 0
        await _fixed_invoice_shows_only_its_pdf(client, operator, fixed)
        assert (await _retain_at(app, twelve + timedelta(days=1))).fixed_invoice_details == 0

        # The fixed account's PDF: 24 months.
        twenty_four = _months_after(issued, 24)
        assert (await _retain_at(app, twenty_four - timedelta(seconds=1))).fixed_invoices == 0
        assert (await _retain_at(app, twenty_four + timedelta(seconds=1))).fixed_invoices == 1
        assert await _count(db, Invoice) == 0 and await _count(db, InvoicePdf) == 0
        assert mobile != fixed


async def _fixed_invoice_shows_only_its_pdf(client, operator, fixed: str) -> None:  # type: ignore[no-untyped-def]
    listed = await client.get(f"/v1/billing-accounts/{fixed}/invoices", headers=operator)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["pdf_only"] is True
    detail = await client.get(f"/v1/invoices/{item['invoice_id']}", headers=operator)
    assert detail.status_code == 200 and detail.json()["lines"] == []
    pdf = await client.get(f"/v1/invoices/{item['invoice_id']}/pdf", headers=operator)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
