"""``/v1/check``, ``/v1/check/batch``, ``/v1/subjects/{user_id}/resources``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from delegation.api.schemas import (
    Action,
    BatchIn,
    BatchOut,
    CheckIn,
    DecisionOut,
    ResourcesOut,
    ResourceType,
)
from delegation.deps import DepsDep
from delegation.service import checks
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal

router = APIRouter(tags=["checks"])


def _check(body: CheckIn) -> checks.Check:
    r = body.resource
    return checks.Check(
        subject=body.subject,
        action=body.action,
        resource=checks.ResourceRef(
            type=r.type,
            id=r.id,
            customer_id=r.customer_id,
            billing_account_id=r.billing_account_id,
            sim_id=r.sim_id,
        ),
    )


@router.post("/v1/check", response_model=DecisionOut)
async def check(
    body: CheckIn, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> DecisionOut:
    """May ``subject`` do ``action`` on ``resource``? Always 200 with the reason."""
    [decision] = await checks.ask(session, deps, principal, [_check(body)])
    return DecisionOut(allowed=decision.allowed, reason=decision.reason)


@router.post("/v1/check/batch", response_model=BatchOut)
async def check_batch(
    body: BatchIn, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> BatchOut:
    """Up to 500 checks; results in the same order."""
    decisions = await checks.ask(session, deps, principal, [_check(c) for c in body.checks])
    return BatchOut(results=[DecisionOut(allowed=d.allowed, reason=d.reason) for d in decisions])


@router.get("/v1/subjects/{user_id}/resources", response_model=ResourcesOut)
async def resources(
    user_id: UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
    type: ResourceType = Query(),
    action: Action = Query(),
) -> ResourcesOut:
    """What the user may act on: whole customers, plus single resources besides."""
    seen = await checks.ask_resources(session, deps, principal, user_id, type, action)
    return ResourcesOut(
        customer_ids=sorted(seen.customer_ids, key=str),
        ids=sorted(seen.ids, key=str),
        all_of_customer=bool(seen.customer_ids),
        billing_account_ids=sorted(seen.billing_account_ids, key=str),
    )
