"""``/v1/check``, ``/v1/check/batch``, ``/v1/subjects/{user_id}/resources``."""

from __future__ import annotations

from fastapi import APIRouter

from delegation.api.auth import AskedBatch, AskedCheck, AskedResources
from delegation.api.schemas import BatchOut, DecisionOut, ResourcesOut
from delegation.deps import DepsDep
from delegation.service import checks
from servicekit.app import SessionDep

router = APIRouter(tags=["checks"])


@router.post("/v1/check", response_model=DecisionOut)
async def check(asked: AskedCheck, session: SessionDep, deps: DepsDep) -> DecisionOut:
    """May ``subject`` do ``action`` on ``resource``? Always 200 with the reason."""
    [decision] = await checks.decide_many(session, deps, [asked])
    return DecisionOut(allowed=decision.allowed, reason=decision.reason)


@router.post("/v1/check/batch", response_model=BatchOut)
async def check_batch(asked: AskedBatch, session: SessionDep, deps: DepsDep) -> BatchOut:
    """Up to 500 checks; results in the same order."""
    decisions = await checks.decide_many(session, deps, asked)
    return BatchOut(results=[DecisionOut(allowed=d.allowed, reason=d.reason) for d in decisions])


@router.get("/v1/subjects/{user_id}/resources", response_model=ResourcesOut)
async def resources(asked: AskedResources, session: SessionDep, deps: DepsDep) -> ResourcesOut:
    """What the user may act on: whole customers, plus single resources besides."""
    seen = await checks.resources_of(
        session, deps, asked.user_id, asked.type, asked.action, only_customers=asked.only_customers
    )
    return ResourcesOut(
        customer_ids=sorted(seen.customer_ids, key=str),
        ids=sorted(seen.ids, key=str),
        all_of_customer=bool(seen.customer_ids),
        billing_account_ids=sorted(seen.billing_account_ids, key=str),
    )
