"""``/v1/customers/{customer_id}/assignments``: who holds which profile and rights."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from delegation.api.auth import (
    AdministeredAssignment,
    CustomerAdministrator,
    GrantingAdministrator,
    ReadableAssignment,
    ReadableCustomer,
)
from delegation.api.schemas import AssignmentIn, AssignmentOut
from delegation.deps import DepsDep
from delegation.domain import WHOLE_CUSTOMER, GrantRequest
from delegation.service import assignments
from servicekit.app import SessionDep
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(tags=["assignments"])


@router.get("/v1/customers/{customer_id}/assignments", response_model=Page[AssignmentOut])
async def list_assignments(
    customer_id: ReadableCustomer,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    user_id: UUID | None = Query(default=None),
    include_revoked: bool = Query(default=False),
) -> Page[AssignmentOut]:
    rows = await assignments.list_page(
        session,
        customer_id,
        limit=limit,
        cursor=cursor,
        user_id=user_id,
        include_revoked=include_revoked,
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
async def revoke(
    admin: CustomerAdministrator,
    row: AdministeredAssignment,
    session: SessionDep,
    deps: DepsDep,
) -> Response:
    await assignments.revoke_one(session, deps, admin, row)
    return Response(status_code=204)
