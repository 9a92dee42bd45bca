"""Record an audited change [14.2] where it happens: an ``audit.recorded`` event written to
the outbox in the caller's transaction, so it is published if and only if the change
commits. Identity chains the events per customer (``GET /v1/customers/{id}/audit-events``).

    await audit.record(session, deps.outbox, source="delegation", customer_id=...,
                       actor=audit.actor_of(principal), action=AuditAction.ASSIGNMENT_GRANTED,
                       target={"assignment_id": str(row.assignment_id)}, occurred_at=now)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.audit import AuditAction, AuditActorV1, AuditRecordedV1
from servicekit.auth import Principal
from servicekit.outbox import Outbox

SYSTEM = AuditActorV1(kind="system")
"""The actor of what a scheduled job does (no person decided it)."""


def actor_of(principal: Principal | None) -> AuditActorV1:
    """The audit actor of a request's caller: its user or client id, never an e-mail."""
    if principal is None:
        return SYSTEM
    return AuditActorV1(kind=principal.kind, id=principal.subject)


def user_actor(user_id: str | uuid.UUID | None) -> AuditActorV1:
    """A user known by id only (e.g. ``granted_by`` in a row); the system when None."""
    return SYSTEM if user_id is None else AuditActorV1(kind="user", id=str(user_id))


async def record(
    session: AsyncSession,
    outbox: Outbox,
    *,
    source: str,
    customer_id: uuid.UUID | str,
    actor: AuditActorV1,
    action: AuditAction,
    occurred_at: datetime,
    target: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    audit_id: uuid.UUID | None = None,
) -> AuditRecordedV1:
    """Write one ``audit.recorded`` event in the caller's transaction and return it.

    ``target`` holds ids only; ``details`` a few facts without personal data or secrets
    (the payload refuses keys such as ``email`` or ``token`` and more than 2 kB).
    """
    payload = AuditRecordedV1.model_validate(
        {
            "audit_id": audit_id or uuid.uuid4(),
            "customer_id": customer_id,
            "source": source,
            "actor": actor,
            "action": action,
            "target": {k: str(v) for k, v in (target or {}).items() if v is not None},
            "details": dict(details or {}),
            "occurred_at": occurred_at,
        }
    )
    await outbox.add(session, payload)
    return payload
