"""The append-only, hash-chained audit log [14.2]."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity import repository as repo
from identity.domain import GENESIS_HASH, ChainCheck, ChainEntry, chain_hash, verify_chain
from identity.models import AuditEntry
from servicekit.db import utcnow


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: str | None = None,
    subject: str | uuid.UUID | None = None,
    customer_id: str | uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (the log commits with the action).

    Never put passwords, tokens or links in ``details``.
    """
    await repo.lock_audit_chain(session)
    last = await repo.last_audit_entry(session)
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        id=uuid.uuid4(),
        # Microseconds, UTC: what both databases store exactly, so the hash survives.
        occurred_at=(now or utcnow()),
        action=action,
        actor=actor,
        subject=str(subject) if subject is not None else None,
        customer_id=str(customer_id) if customer_id is not None else None,
        details=details or {},
        prev_hash=last.hash if last else GENESIS_HASH,
        hash="",
    )
    entry.hash = chain_hash(entry.prev_hash, entry.hashed_content())
    session.add(entry)
    await session.flush()
    return entry


async def verify(session: AsyncSession) -> ChainCheck:
    """Recompute the whole chain from the database."""
    entries: list[ChainEntry] = []
    async for row in repo.audit_entries(session):
        entries.append(ChainEntry(row.seq, row.prev_hash, row.hash, row.hashed_content()))
    return verify_chain(entries)
