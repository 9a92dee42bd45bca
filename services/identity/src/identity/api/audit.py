"""The customer's audit trail of rights [14.2] (``audit.recorded`` from every service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from contracts.events.audit import AuditAction
from identity.api.auth import AuditedCustomer
from identity.models import CustomerAuditEvent
from identity.schemas import AuditActorOut, AuditEventOut
from identity.service import audit_trail
from servicekit.app import SessionDep
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from servicekit.problems import ValidationFailed

router = APIRouter(tags=["audit"])

Since = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="Only entries at or after this instant (with offset)."),
]
Until = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="Only entries before this instant (with offset)."),
]
ActorId = Annotated[
    str | None,
    Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="A user or client id."),
]


def _out(row: CustomerAuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=row.seq,
        audit_id=row.audit_id,
        at=row.at,
        source=row.source,
        actor=AuditActorOut(kind=row.actor_kind, id=row.actor_id),  # type: ignore[arg-type]
        action=row.action,
        target=row.target,
        details=row.details,
        hash=row.hash,
        prev_hash=row.prev_hash,
    )


@router.get("/v1/customers/{customer_id}/audit-events", response_model=Page[AuditEventOut])
async def list_audit_events(
    customer: AuditedCustomer,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    actor: ActorId = None,
    action: AuditAction | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """The customer's audit trail, oldest link first (the chain's order): grants,
    revocations, third-party approvals and refusals, invitations, removals, notices and
    data exports, from every service. Access owner (and operator staff) only."""
    if since is not None and until is not None and since >= until:
        raise ValidationFailed(
            "`from` must be before `to`",
            errors=[{"field": "from", "message": "must be before `to`"}],
        )
    page = await audit_trail.list_audit_events(
        session,
        customer.id,
        since=since,
        until=until,
        actor=actor,
        action=action.value if action else None,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[_out(r) for r in page.items], next_cursor=page.next_cursor)
