from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingRun, ExcludedRecord, UsageRecord


async def delete_usage_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(UsageRecord)
        .where(UsageRecord.started_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_excluded_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(ExcludedRecord)
        .where(ExcludedRecord.received_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_runs_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(BillingRun)
        .where(BillingRun.created_at < before, BillingRun.status.in_(("done", "failed")))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
