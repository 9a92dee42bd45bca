"""The append-only audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import AuditEntry
from identity.repository.common import is_postgres

# Postgres advisory lock serialising appends to the audit chain.
AUDIT_CHAIN_LOCK = 0x1D_A0D17


async def lock_audit_chain(session: AsyncSession) -> None:
    """Serialise appenders until commit. SQLite has a single writer already, and the
    primary key on ``seq`` turns any remaining race into a failed commit, not a fork."""
    if is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_CHAIN_LOCK})


async def last_audit_entry(session: AsyncSession) -> AuditEntry | None:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def audit_entries(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    """The whole chain in order, in batches (it only grows)."""
    last = 0
    while True:
        stmt = select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        rows = list((await session.execute(stmt)).scalars())
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last = rows[-1].seq


async def audit_entries_for(session: AsyncSession, action: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    return list((await session.execute(stmt)).scalars())
