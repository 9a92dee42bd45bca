"""The customers' audit trails of rights [14.2]: ``audit.recorded`` events from every
service, appended to one hash chain per customer, served to the access owner and checked
end to end by ``portal-audit verify``.

The chain follows arrival order (the consumer's), not ``at``: it proves that what identity
received has not been changed, removed or reordered since.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.audit import AuditRecordedV1
from identity.deps import Deps
from identity.domain import GENESIS_HASH, ChainCheck, ChainEntry, chain_hash, verify_chain
from identity.models import CustomerAuditEvent
from identity.repository import customer_audit as trail_repo
from servicekit.pagination import Page


async def append_audit_event(
    session: AsyncSession, deps: Deps, payload: AuditRecordedV1
) -> CustomerAuditEvent:
    """Append one event to its customer's chain: seq = head + 1, hash = sha256(prev_hash
    + canonical JSON). The inbox makes a redelivered event a no-op; ``audit_id`` guards
    the same event arriving under another envelope."""
    await trail_repo.lock_customer_trail(session, payload.customer_id)
    existing = await trail_repo.audit_event_by_id(session, payload.audit_id)
    if existing is not None:
        return existing
    head = await trail_repo.trail_head(session, payload.customer_id)
    row = CustomerAuditEvent(
        customer_id=payload.customer_id,
        seq=(head.seq + 1) if head else 1,
        audit_id=payload.audit_id,
        at=payload.occurred_at,
        source=payload.source,
        actor_kind=payload.actor.kind,
        actor_id=payload.actor.id,
        action=payload.action.value,
        target=dict(payload.target),
        details=dict(payload.details),
        recorded_at=deps.now(),
        prev_hash=head.hash if head else GENESIS_HASH,
        hash="",
    )
    row.hash = chain_hash(row.prev_hash, row.hashed_content())
    session.add(row)
    await session.flush()
    return row


async def list_audit_events(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    actor: str | None,
    action: str | None,
    cursor: str | None,
    limit: int,
) -> Page[CustomerAuditEvent]:
    return await trail_repo.page_audit_events(
        session,
        customer_id,
        since=since,
        until=until,
        actor=actor,
        action=action,
        cursor=cursor,
        limit=limit,
    )


async def verify_trail(session: AsyncSession, customer_id: uuid.UUID) -> ChainCheck:
    """Recompute every link of one customer's chain; the first broken one is named."""
    entries: list[ChainEntry] = []
    async for row in trail_repo.trail_of(session, customer_id):
        entries.append(ChainEntry(row.seq, row.prev_hash, row.hash, row.hashed_content()))
    return verify_chain(entries)


async def audited_customers(session: AsyncSession) -> list[uuid.UUID]:
    return await trail_repo.audited_customers(session)
