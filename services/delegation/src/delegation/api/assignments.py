"""``/v1/customers/{customer_id}/assignments``: who holds which profile and rights."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from delegation.api.auth import (
    GrantingAdministrator,
    ReadableAssignment,
    ReadableAssignments,
    RevocableAssignment,
)
from delegation.api.schemas import AssignmentIn, AssignmentOut
from delegation.deps import DepsDep
from delegation.domain import WHOLE_CUSTOMER, GrantRequest
from delegation.service import assignments
from servicekit.app import SessionDep
from servicekit.pagination import Page

router = APIRouter(tags=["assignments"])


@router.get("/v1/customers/{customer_id}/assignments", response_model=Page[AssignmentOut])
async def list_assignments(
    listing: ReadableAssignments, session: SessionDep
) -> Page[AssignmentOut]:
    rows = await assignments.list_page(
        session,
        listing.customer_id,
        limit=listing.limit,
        cursor=listing.cursor,
        user_id=listing.user_id,
        include_revoked=listing.include_revoked,
    )
    return Page(items=[AssignmentOut.of(r) for r in rows.items], next_cursor=rows.next_cursor)


@router.post(
    "/v1/customers/{customer_id}/assignments", status_code=201, response_model=AssignmentOut
)
async def grant(
    customer_id: UUID,
    body: AssignmentIn,
    admin: GrantingAdministrator,
    session: SessionDep,
    deps: DepsDep,
) -> AssignmentOut:
    request = GrantRequest(
        customer_id=customer_id,
        user_id=body.user_id,
        profile=body.profile,
        subprofiles=frozenset(body.subprofiles),
        scope=body.scope.to_domain() if body.scope is not None else WHOLE_CUSTOMER,
        permissions=frozenset(body.permissions),
    )
    row = await assignments.grant(session, deps, admin, request)
    return AssignmentOut.of(row)


@router.get("/v1/customers/{customer_id}/assignments/{assignment_id}", response_model=AssignmentOut)
async def get_assignment(row: ReadableAssignment) -> AssignmentOut:
    return AssignmentOut.of(row)


@router.delete("/v1/customers/{customer_id}/assignments/{assignment_id}", status_code=204)
async def revoke(target: RevocableAssignment, session: SessionDep, deps: DepsDep) -> Response:
    await assignments.revoke_one(session, deps, target.admin, target.row)
    return Response(status_code=204)
