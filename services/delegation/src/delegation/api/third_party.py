"""[9.2] Third-party delegations: asked by the access owner, decided by operator staff."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Body, Query

from delegation.api.auth import ReadableDelegations, RequestingOwner
from delegation.api.schemas import DecisionReasonIn, ThirdPartyIn, ThirdPartyOut, ThirdPartyStatus
from delegation.deps import DepsDep
from delegation.domain import WHOLE_CUSTOMER
from delegation.models import ThirdPartyDelegation
from delegation.service import third_party
from servicekit.app import SessionDep
from servicekit.auth import OperatorPrincipal
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(tags=["third-party delegations"])


def _page(rows: Page[ThirdPartyDelegation]) -> Page[ThirdPartyOut]:
    return Page(items=[ThirdPartyOut.of(r) for r in rows.items], next_cursor=rows.next_cursor)


@router.post(
    "/v1/customers/{customer_id}/third-party-delegations",
    status_code=201,
    response_model=ThirdPartyOut,
)
async def request_delegation(
    customer_id: UUID,
    body: ThirdPartyIn,
    owner: RequestingOwner,
    session: SessionDep,
    deps: DepsDep,
) -> ThirdPartyOut:
    """The access owner asks; pending (and without effect) until operator staff approve."""
    row = await third_party.request(
        session,
        deps,
        owner,
        customer_id,
        body.grantee_user_id,
        body.scope.to_domain() if body.scope is not None else WHOLE_CUSTOMER,
        frozenset(body.permissions),
    )
    return ThirdPartyOut.of(row)


@router.get(
    "/v1/customers/{customer_id}/third-party-delegations", response_model=Page[ThirdPartyOut]
)
async def list_for_customer(
    listing: ReadableDelegations, session: SessionDep
) -> Page[ThirdPartyOut]:
    rows = await third_party.list_page(
        session,
        customer_id=listing.customer_id,
        status=listing.status,
        limit=listing.limit,
        cursor=listing.cursor,
    )
    return _page(rows)


@router.get("/v1/operator/third-party-delegations", response_model=Page[ThirdPartyOut])
async def list_for_operator(
    principal: OperatorPrincipal,
    session: SessionDep,
    status: ThirdPartyStatus | None = Query(default=None),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ThirdPartyOut]:
    rows = await third_party.list_page(
        session, customer_id=None, status=status, limit=limit, cursor=cursor
    )
    return _page(rows)


@router.post(
    "/v1/operator/third-party-delegations/{delegation_id}/approve", response_model=ThirdPartyOut
)
async def approve(
    delegation_id: UUID, principal: OperatorPrincipal, session: SessionDep, deps: DepsDep
) -> ThirdPartyOut:
    row = await third_party.approve(session, deps, delegation_id, by=principal.subject)
    return ThirdPartyOut.of(row)


@router.post(
    "/v1/operator/third-party-delegations/{delegation_id}/refuse", response_model=ThirdPartyOut
)
async def refuse(
    delegation_id: UUID,
    principal: OperatorPrincipal,
    session: SessionDep,
    deps: DepsDep,
    body: DecisionReasonIn | None = Body(default=None),
) -> ThirdPartyOut:
    reason = body.reason if body is not None else None
    row = await third_party.refuse(session, deps, delegation_id, reason, by=principal.subject)
    return ThirdPartyOut.of(row)
