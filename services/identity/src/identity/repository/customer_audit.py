"""The customers' audit trails of rights: one append-only hash chain per customer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import CustomerAuditEvent
from identity.repository.common import is_postgres
from servicekit.pagination import Keyset, Page

AUDIT_EVENTS_IN_CHAIN_ORDER = Keyset(CustomerAuditEvent.seq, descending=False)
"""A customer's trail, oldest link first (``seq`` is unique within a customer)."""

# Namespace of the per-customer advisory locks (pg_advisory_xact_lock(int, int)).
_LOCK_NAMESPACE = 0x0A0D


async def lock_customer_trail(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Serialise appends to one customer's chain until commit (several identity
    instances). SQLite has a single writer; and the primary key (customer_id, seq) turns
    any remaining race into a failed commit (retried by the consumer), never a fork."""
    if is_postgres(session):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:c))"),
            {"ns": _LOCK_NAMESPACE, "c": str(customer_id)},
        )


async def trail_head(session: AsyncSession, customer_id: uuid.UUID) -> CustomerAuditEvent | None:
    stmt = (
        select(CustomerAuditEvent)
        .where(CustomerAuditEvent.customer_id == customer_id)
        .order_by(CustomerAuditEvent.seq.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def audit_event_by_id(
    session: AsyncSession, audit_id: uuid.UUID
) -> CustomerAuditEvent | None:
    stmt = select(CustomerAuditEvent).where(CustomerAuditEvent.audit_id == audit_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def page_audit_events(
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
    stmt = select(CustomerAuditEvent).where(CustomerAuditEvent.customer_id == customer_id)
    if since is not None:
        stmt = stmt.where(CustomerAuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(CustomerAuditEvent.at < until)
    if actor is not None:
        stmt = stmt.where(CustomerAuditEvent.actor_id == actor)
    if action is not None:
        stmt = stmt.where(CustomerAuditEvent.action == action)
    stmt = AUDIT_EVENTS_IN_CHAIN_ORDER.apply(stmt, cursor, limit)
    return AUDIT_EVENTS_IN_CHAIN_ORDER.page(list(await session.scalars(stmt)), limit)


async def audited_customers(session: AsyncSession) -> list[uuid.UUID]:
    stmt = (
        select(CustomerAuditEvent.customer_id).distinct().order_by(CustomerAuditEvent.customer_id)
    )
    return list(await session.scalars(stmt))


async def trail_of(
    session: AsyncSession, customer_id: uuid.UUID, batch: int = 1000
) -> AsyncIterator[CustomerAuditEvent]:
    """A customer's whole chain in order, in batches (it only grows)."""
    last = 0
    while True:
        stmt = (
            select(CustomerAuditEvent)
            .where(CustomerAuditEvent.customer_id == customer_id, CustomerAuditEvent.seq > last)
            .order_by(CustomerAuditEvent.seq)
            .limit(batch)
        )
        rows = list(await session.scalars(stmt))
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        last = rows[-1].seq
