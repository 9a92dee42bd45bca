"""Every query of the notifier."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.domain import IN_PROGRESS, Status
from notifier.models import Notification, Recipient
from servicekit.pagination import Keyset, Page


def rowcount(result: Result[Any]) -> int:
    # An UPDATE or DELETE gives a CursorResult; execute() is typed for any statement.
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def get_recipient(session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
    return await session.get(Recipient, user_id)


async def get_notification(
    session: AsyncSession, notification_id: uuid.UUID, *, for_update: bool = False
) -> Notification | None:
    stmt = select(Notification).where(Notification.id == notification_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_by_dedupe_key(session: AsyncSession, key: str) -> Notification | None:
    stmt = select(Notification).where(Notification.dedupe_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def waiting_for(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Notification]:
    stmt = select(Notification).where(
        Notification.recipient_user_id == user_id,
        Notification.status == Status.WAITING_FOR_RECIPIENT,
    )
    return (await session.execute(stmt)).scalars().all()


async def resend_in_progress(session: AsyncSession, original_id: uuid.UUID) -> bool:
    stmt = select(func.count()).where(
        Notification.resend_of == original_id, Notification.status.in_(IN_PROGRESS)
    )
    return bool((await session.execute(stmt)).scalar())


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, channels: Collection[str]
) -> Sequence[Notification]:
    """Pending rows whose time has come, locked so other instances skip them.

    ``SKIP LOCKED`` is PostgreSQL's; SQLite ignores ``FOR UPDATE`` (one instance there).
    """
    stmt = (
        select(Notification)
        .where(
            Notification.status == Status.PENDING,
            Notification.next_attempt_at <= now,
            Notification.channel.in_(list(channels)),
        )
        .order_by(Notification.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def expired_waits(session: AsyncSession, now: datetime, limit: int) -> Sequence[Notification]:
    stmt = (
        select(Notification)
        .where(
            Notification.status == Status.WAITING_FOR_RECIPIENT,
            Notification.next_attempt_at <= now,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def stale_sending(
    session: AsyncSession, claimed_before: datetime, limit: int
) -> Sequence[Notification]:
    """Rows an instance claimed and never finished (it died mid-send), locked."""
    stmt = (
        select(Notification)
        .where(Notification.status == Status.SENDING, Notification.claimed_at < claimed_before)
        .order_by(Notification.claimed_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


# Newest first, as the delivery log promises; the id breaks ties within one instant.
NEWEST_FIRST = Keyset(Notification.created_at, Notification.id)


async def list_notifications(
    session: AsyncSession,
    *,
    recipient_user_id: uuid.UUID | None,
    address: str | None,
    source_event_id: str | None,
    request_id: uuid.UUID | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Notification]:
    stmt = select(Notification)
    if recipient_user_id is not None:
        stmt = stmt.where(Notification.recipient_user_id == recipient_user_id)
    if address is not None:
        stmt = stmt.where(func.lower(Notification.to_address) == address.strip().lower())
    if source_event_id is not None:
        stmt = stmt.where(Notification.source_event_id == source_event_id)
    if request_id is not None:
        stmt = stmt.where(Notification.request_id == request_id)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    rows = (await session.execute(NEWEST_FIRST.apply(stmt, cursor, limit))).scalars().all()
    return NEWEST_FIRST.page(rows, limit)


FINISHED = (Status.SENT, Status.FAILED)


async def links_to_purge(
    session: AsyncSession, created_before: datetime, limit: int
) -> Sequence[Notification]:
    stmt = (
        select(Notification)
        .where(
            Notification.status.in_(FINISHED),
            Notification.params_purged_at.is_(None),
            Notification.created_at < created_before,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def delete_finished_before(session: AsyncSession, created_before: datetime) -> int:
    result = await session.execute(
        delete(Notification)
        .where(Notification.status.in_(FINISHED), Notification.created_at < created_before)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def failed_between(
    session: AsyncSession,
    since: datetime,
    until: datetime | None,
    *,
    channel: str | None,
    template: str | None,
    limit: int,
) -> Sequence[Notification]:
    """Failed notifications (oldest failure first), locked so two bulk resends cannot
    both take one."""
    stmt = select(Notification).where(
        Notification.status == Status.FAILED, Notification.failed_at >= since
    )
    if until is not None:
        stmt = stmt.where(Notification.failed_at < until)
    if channel is not None:
        stmt = stmt.where(Notification.channel == channel)
    if template is not None:
        stmt = stmt.where(Notification.template == template)
    stmt = stmt.order_by(Notification.failed_at).limit(limit).with_for_update(skip_locked=True)
    return (await session.execute(stmt)).scalars().all()


async def resent_already(session: AsyncSession, original_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``original_ids`` that have a resend (in progress or done)."""
    stmt = select(Notification.resend_of).where(Notification.resend_of.in_(original_ids))
    return {i for i in (await session.execute(stmt)).scalars() if i is not None}
