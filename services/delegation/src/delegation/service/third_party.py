"""[9.2] Third-party delegation: the access owner asks, operator staff approve or
refuse; until approved it has no effect. Approval creates a third-party assignment
(portal-user rights on the customer's data, never administration)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events.audit import AuditAction, AuditActorV1
from delegation import repository as repo
from delegation.deps import Deps
from delegation.domain import (
    PORTAL_USER,
    Scope,
    check_third_party_request,
    requester_refusal,
    third_party_grantee_refusal,
)
from delegation.models import Assignment, ThirdPartyDelegation
from delegation.service.common import Administrator, announce, raise_for, today, with_group
from servicekit import audit
from servicekit.pagination import Page
from servicekit.problems import Conflict, NotFound


def _ids(values: frozenset[UUID] | None) -> list[str] | None:
    return None if values is None else sorted(str(v) for v in values)


async def request(
    session: AsyncSession,
    deps: Deps,
    owner: Administrator,
    customer_id: UUID,
    grantee_user_id: UUID,
    scope: Scope,
    permissions: frozenset[str],
) -> ThirdPartyDelegation:
    grantee = await repo.person(session, grantee_user_id)
    customer = await repo.get_customer(session, customer_id)
    raise_for(
        check_third_party_request(
            owner.actor,
            grantee,
            customer_id,
            scope,
            permissions,
            today=today(deps),
            customer_terminated=customer is not None and customer.status == "terminated",
        )
    )
    row = ThirdPartyDelegation(
        id=repo.new_id(),
        customer_id=customer_id,
        grantee_user_id=grantee_user_id,
        scope_applications=None if scope.applications is None else sorted(scope.applications),
        scope_billing_accounts=_ids(scope.billing_accounts),
        scope_sims=_ids(scope.sims),
        permissions=sorted(permissions),
        status="pending",
        requested_by=owner.by,
        requested_at=deps.now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        deps.outbox,
        source="delegation",
        customer_id=customer_id,
        actor=owner.audit_actor,
        action=AuditAction.THIRD_PARTY_REQUESTED,
        target={"delegation_id": row.id, "user_id": grantee_user_id},
        details={"permissions": list(row.permissions)},
        occurred_at=deps.now(),
    )
    return row


async def _pending(session: AsyncSession, delegation_id: UUID) -> ThirdPartyDelegation:
    row = await repo.get_third_party(session, delegation_id)
    if row is None:
        raise NotFound("No such third-party delegation")
    if row.status != "pending":
        raise Conflict(f"The delegation is already {row.status}", reason=f"already_{row.status}")
    return row


async def approve(
    session: AsyncSession, deps: Deps, delegation_id: UUID, *, by: str
) -> ThirdPartyDelegation:
    row = await _pending(session, delegation_id)
    customer = await repo.get_customer(session, row.customer_id)
    if customer is not None and customer.status == "terminated":
        raise Conflict("The customer's agreement has ended", reason="customer_terminated")
    await _requester_still_owner(session, deps, row)
    grantee = await repo.person(session, row.grantee_user_id)
    if grantee is None:
        raise Conflict("The grantee is no longer known", reason="unknown_user")
    raise_for(third_party_grantee_refusal(grantee, today(deps)))
    assignment = Assignment(
        assignment_id=repo.new_id(),
        customer_id=row.customer_id,
        user_id=row.grantee_user_id,
        profile=PORTAL_USER,
        subprofiles=[],
        scope_applications=row.scope_applications,
        scope_billing_accounts=row.scope_billing_accounts,
        scope_sims=row.scope_sims,
        permissions=list(row.permissions),
        third_party=True,
        status=repo.ACTIVE,
        source="third_party_delegation",
        granted_by=row.requested_by,
        granted_at=deps.now(),
    )
    if not await repo.decide_third_party(
        session,
        row,
        status="approved",
        by=by,
        at=deps.now(),
        assignment_id=assignment.assignment_id,
    ):
        raise Conflict(f"The delegation is already {row.status}", reason=f"already_{row.status}")
    session.add(assignment)
    await session.flush()
    await announce(session, deps, assignment, "granted", row.requested_by)
    await _audit_decision(
        session, deps, row, AuditAction.THIRD_PARTY_APPROVED, by, assignment.assignment_id
    )
    return row


async def _requester_still_owner(
    session: AsyncSession, deps: Deps, row: ThirdPartyDelegation
) -> None:
    """[9.2] Only an access owner delegates to a third party, and that must still hold
    when the operator approves: an owner demoted, deactivated or whose contract ended
    since asking no longer delegates. A request by operator staff (not a user delegation
    knows) stands on the operator's own authority."""
    try:
        requester_id = UUID(row.requested_by)
    except ValueError:
        return
    found = await repo.person(session, requester_id)
    if found is None:
        return  # operator staff: identity's operators are not users of a customer
    requester = await with_group(session, found, {row.customer_id})
    if requester_refusal(requester, row.customer_id, today(deps)) is not None:
        raise Conflict(
            "The requester is no longer an access owner of the customer",
            reason="requester_not_access_owner",
        )


async def refuse(
    session: AsyncSession, deps: Deps, delegation_id: UUID, reason: str | None, *, by: str
) -> ThirdPartyDelegation:
    row = await _pending(session, delegation_id)
    if not await repo.decide_third_party(
        session, row, status="refused", by=by, at=deps.now(), reason=reason
    ):
        raise Conflict(f"The delegation is already {row.status}", reason=f"already_{row.status}")
    await _audit_decision(session, deps, row, AuditAction.THIRD_PARTY_REFUSED, by, None)
    return row


async def _audit_decision(
    session: AsyncSession,
    deps: Deps,
    row: ThirdPartyDelegation,
    action: AuditAction,
    by: str,
    assignment_id: UUID | None,
) -> None:
    """Operator staff's decision on a third-party delegation, in the customer's trail (the
    refusal's free-text reason stays in delegation: it may name people)."""
    await audit.record(
        session,
        deps.outbox,
        source="delegation",
        customer_id=row.customer_id,
        actor=AuditActorV1(kind="operator", id=by),
        action=action,
        target={
            "delegation_id": row.id,
            "user_id": row.grantee_user_id,
            "assignment_id": assignment_id,
        },
        details={"requested_by": str(row.requested_by), "permissions": list(row.permissions)},
        occurred_at=deps.now(),
    )


async def list_page(
    session: AsyncSession,
    *,
    customer_id: UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ThirdPartyDelegation]:
    return await repo.page_third_party(
        session,
        limit=limit,
        cursor=cursor,
        customer_id=customer_id,
        status=status,
    )
