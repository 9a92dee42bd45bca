"""``/v1/check``, ``/v1/check/batch``, ``/v1/subjects/{user_id}/resources``.

Every service asks ``/v1/check`` on every request, so the check and the batch are also
answered in servicekit's fast lane (``fast_routes``, ADR 0026): the same token
verification, the same ``may_ask_about`` and ``decide_many``, without the framework's
per-request work. Whatever the fast lane declines (a bad token, a refused caller, a
malformed body) runs through the routes below, which give the refusal.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import TypeAdapter

from contracts.scopes import ServiceScope
from delegation.api.auth import AskedBatch, AskedCheck, AskedResources, check_of, may_ask_about
from delegation.api.schemas import BatchIn, BatchOut, CheckIn, DecisionOut, ResourcesOut
from delegation.deps import Deps, DepsDep
from delegation.domain import Decision
from delegation.service import checks
from delegation.service.checks import Check
from servicekit.app import ServiceKit, SessionDep
from servicekit.asgi import FastRequest, FastResponse, json_body
from servicekit.auth import Principal, person_or_scoped_service

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


_CHECK_IN = TypeAdapter(CheckIn)
_BATCH_IN = TypeAdapter(BatchIn)


def _decision(d: Decision) -> dict[str, object]:
    return {"allowed": d.allowed, "reason": d.reason}


def register_fast_routes(kit: ServiceKit, deps: Deps) -> None:
    """``POST /v1/check`` and ``/v1/check/batch`` in the fast lane (see the docstring)."""

    async def asker(request: FastRequest) -> Principal | None:
        token = request.bearer_token()
        if token is None or not request.is_json():
            return None
        principal = await kit.verifier.verify(token)
        return person_or_scoped_service(principal, ServiceScope.RIGHTS_CHECK)

    async def decide(principal: Principal, asked: list[Check]) -> list[Decision]:
        async with kit.db.reading() as session:  # opened only if memory lacks a fact
            await may_ask_about(session, deps, principal, {c.subject for c in asked})
            return await checks.decide_many(session, deps, asked)

    async def check(request: FastRequest) -> FastResponse | None:
        principal = await asker(request)
        if principal is None:
            return None
        asked = check_of(_CHECK_IN.validate_json(request.body))
        [decision] = await decide(principal, [asked])
        return FastResponse(json_body(_decision(decision)))

    async def batch(request: FastRequest) -> FastResponse | None:
        principal = await asker(request)
        if principal is None:
            return None
        asked = [check_of(c) for c in _BATCH_IN.validate_json(request.body).checks]
        decisions = await decide(principal, asked)
        return FastResponse(json_body({"results": [_decision(d) for d in decisions]}))

    kit.fast_route("POST", "/v1/check", check)
    kit.fast_route("POST", "/v1/check/batch", batch)
