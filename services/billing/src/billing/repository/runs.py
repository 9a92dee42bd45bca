from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingRun, BillingRunAccount, ScheduledPeriod


async def add_run(session: AsyncSession, run: BillingRun) -> None:
    session.add(run)
    await session.flush()


async def scheduled_period(session: AsyncSession, period: str) -> ScheduledPeriod | None:
    return await session.get(ScheduledPeriod, period)


async def add_scheduled_run(
    session: AsyncSession, run: BillingRun, marker: ScheduledPeriod
) -> bool:
    """Add the run and its period's marker; False (nothing added) when another instance
    scheduled the period first."""
    try:
        async with session.begin_nested():
            session.add(marker)
            await session.flush()
    except IntegrityError:
        return False
    await add_run(session, run)
    return True


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> BillingRun | None:
    return await session.get(BillingRun, run_id)


async def claimable_run_ids(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Pending runs, and running ones whose worker stopped renewing its lease."""
    q = (
        select(BillingRun.id)
        .where(
            or_(
                BillingRun.status == "pending",
                (BillingRun.status == "running")
                & (or_(BillingRun.lease_until.is_(None), BillingRun.lease_until < now)),
            )
        )
        .order_by(BillingRun.created_at)
        .limit(10)
    )
    return list(await session.scalars(q))


async def claim(
    session: AsyncSession, run_id: uuid.UUID, owner: str, now: datetime, until: datetime
) -> bool:
    """Compare-and-set on the lease: exactly one worker wins a run."""
    result = await session.execute(
        update(BillingRun)
        .where(
            BillingRun.id == run_id,
            BillingRun.status.in_(("pending", "running")),
            or_(
                BillingRun.lease_until.is_(None),
                BillingRun.lease_until < now,
                BillingRun.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return (getattr(result, "rowcount", 0) or 0) == 1


async def add_run_accounts(
    session: AsyncSession, run_id: uuid.UUID, account_ids: list[uuid.UUID]
) -> None:
    session.add_all([BillingRunAccount(run_id=run_id, billing_account_id=a) for a in account_ids])
    await session.flush()


async def pending_run_accounts(session: AsyncSession, run_id: uuid.UUID) -> list[uuid.UUID]:
    q = select(BillingRunAccount.billing_account_id).where(
        BillingRunAccount.run_id == run_id, BillingRunAccount.status == "pending"
    )
    return list(await session.scalars(q.order_by(BillingRunAccount.billing_account_id)))


async def set_run_account(
    session: AsyncSession,
    run_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    status: str,
    invoice_id: uuid.UUID | None = None,
    error: str | None = None,
) -> None:
    await session.execute(
        update(BillingRunAccount)
        .where(
            BillingRunAccount.run_id == run_id,
            BillingRunAccount.billing_account_id == account_id,
        )
        .values(status=status, invoice_id=invoice_id, error=error)
    )


async def set_run_accounts(
    session: AsyncSession, run_id: uuid.UUID, outcomes: list[dict[str, object]]
) -> None:
    """Several accounts' outcomes at once: dicts of ``billing_account_id``, ``status``,
    ``invoice_id`` and ``error`` (an UPDATE by primary key, executemany)."""
    if outcomes:
        await session.execute(
            update(BillingRunAccount), [{"run_id": run_id, **o} for o in outcomes]
        )


async def refresh_counts(session: AsyncSession, run: BillingRun) -> None:
    rows = await session.execute(
        select(BillingRunAccount.status, func.count())
        .where(BillingRunAccount.run_id == run.id)
        .group_by(BillingRunAccount.status)
    )
    counts: dict[str, int] = {status: int(n) for status, n in rows.all()}
    run.total_accounts = sum(counts.values())
    run.done_accounts = counts.get("done", 0)
    run.failed_accounts = counts.get("failed", 0)
    await session.flush()
