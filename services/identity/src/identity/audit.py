"""The append-only, hash-chained audit log [14.2]."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.audit import ActorKind, AuditAction, AuditActorV1
from identity import repository as repo
from identity.domain import GENESIS_HASH, ChainCheck, ChainEntry, chain_hash, verify_chain
from identity.models import AuditEntry
from servicekit import audit as shared_audit
from servicekit.db import utcnow
from servicekit.outbox import Outbox

# What of identity's own log also goes to the customer's trail of rights (audit.recorded),
# and the target key its ``subject`` is.
SHARED: dict[str, tuple[AuditAction, str]] = {
    "registration.accepted": (AuditAction.REGISTRATION_ACCEPTED, "registration_id"),
    "user.invited": (AuditAction.USER_INVITED, "user_id"),
    "user.deactivated": (AuditAction.USER_REMOVED, "user_id"),
    "termination.requested": (AuditAction.NOTICE_GIVEN, "termination_id"),
    "termination.withdrawn": (AuditAction.NOTICE_WITHDRAWN, "termination_id"),
    "customer.terminated": (AuditAction.CUSTOMER_TERMINATED, "customer_id"),
}


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor: str | None = None,
    subject: str | uuid.UUID | None = None,
    customer_id: str | uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
    outbox: Outbox | None = None,
    actor_kind: ActorKind = "user",
) -> AuditEntry:
    """Append an entry in the caller's transaction (the log commits with the action).

    With ``outbox``, an action of the customers' trail of rights (``SHARED``) is also
    published on ``audit.recorded`` from the same transaction; ``actor_kind`` says what
    ``actor`` is (``system``: a scheduled job, named by no id).

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
    shared = SHARED.get(action)
    if outbox is not None and shared is not None and customer_id is not None:
        public_action, target_key = shared
        await shared_audit.record(
            session,
            outbox,
            source="identity",
            customer_id=customer_id,
            actor=AuditActorV1(kind=actor_kind, id=None if actor_kind == "system" else actor),
            action=public_action,
            target={target_key: entry.subject},
            details=entry.details,
            occurred_at=entry.occurred_at,
            audit_id=entry.id,
        )
    return entry


async def verify(session: AsyncSession) -> ChainCheck:
    """Recompute the whole chain from the database."""
    entries: list[ChainEntry] = []
    async for row in repo.audit_entries(session):
        entries.append(ChainEntry(row.seq, row.prev_hash, row.hash, row.hashed_content()))
    return verify_chain(entries)
