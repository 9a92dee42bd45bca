"""Token-signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import SigningKey


async def active_signing_key(session: AsyncSession) -> SigningKey | None:
    stmt = select(SigningKey).where(SigningKey.status == "active")
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_signing_key(session: AsyncSession, kid: str) -> SigningKey | None:
    return await session.get(SigningKey, kid)


async def published_signing_keys(
    session: AsyncSession, retired_since: datetime
) -> list[SigningKey]:
    stmt = (
        select(SigningKey)
        .where(
            or_(
                SigningKey.status == "active",
                and_(SigningKey.status == "retired", SigningKey.retired_at > retired_since),
            )
        )
        .order_by(SigningKey.created_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def retire_active_keys(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(SigningKey)
        .where(SigningKey.status == "active")
        .values(status="retired", retired_at=now)
        .execution_options(synchronize_session=False)
    )
