"""Notices of termination and the job's claims on them."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Termination
from identity.repository.common import changed


async def current_termination(session: AsyncSession, customer_id: uuid.UUID) -> Termination | None:
    """The customer's pending notice, or the one that terminated it; None otherwise
    (withdrawn notices are history)."""
    stmt = (
        select(Termination)
        .where(
            Termination.customer_id == customer_id,
            Termination.status.in_(("terminating", "terminated")),
        )
        .order_by(Termination.requested_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def pending_termination(session: AsyncSession, customer_id: uuid.UUID) -> Termination | None:
    stmt = select(Termination).where(
        Termination.customer_id == customer_id, Termination.status == "terminating"
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_termination_ids(
    session: AsyncSession, today: date, limit: int, *, skip: Collection[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Pending notices whose effective day has come, oldest day first, except ``skip``."""
    stmt = select(Termination.id).where(
        Termination.status == "terminating", Termination.effective_on <= today
    )
    if skip:
        stmt = stmt.where(Termination.id.not_in(list(skip)))
    stmt = stmt.order_by(Termination.effective_on, Termination.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def claim_due_termination(
    session: AsyncSession, termination_id: uuid.UUID, today: date, now: datetime
) -> bool:
    """Mark a due notice terminated; False when it no longer is pending (another
    instance took it, or it was withdrawn). The conditional update is the claim: on
    PostgreSQL a concurrent claimer waits for the row and then finds nothing to update."""
    result = await session.execute(
        update(Termination)
        .where(
            Termination.id == termination_id,
            Termination.status == "terminating",
            Termination.effective_on <= today,
        )
        .values(status="terminated", terminated_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed(result)


async def withdraw_termination(
    session: AsyncSession, termination_id: uuid.UUID, today: date, now: datetime, by: str
) -> bool:
    """Withdraw a notice that is still pending and not yet due; False otherwise (the
    job took it meanwhile, or someone else withdrew it)."""
    result = await session.execute(
        update(Termination)
        .where(
            Termination.id == termination_id,
            Termination.status == "terminating",
            Termination.effective_on > today,
        )
        .values(status="withdrawn", withdrawn_at=now, withdrawn_by=by)
        .execution_options(synchronize_session=False)
    )
    return changed(result)


async def get_termination(session: AsyncSession, termination_id: uuid.UUID) -> Termination | None:
    stmt = (
        select(Termination)
        .where(Termination.id == termination_id)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
