"""Termination of a customer's agreement [2.2.2]: give notice, look at it, withdraw it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from identity.api.auth import NoticeCustomer, ReadableTermination, WithdrawableTermination
from identity.deps import DepsDep
from identity.models import Termination
from identity.schemas import TerminationIn, TerminationOut
from identity.service import terminations
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal

router = APIRouter(tags=["termination"])


def _out(termination: Termination) -> TerminationOut:
    return TerminationOut(
        termination_id=termination.id,
        customer_id=termination.customer_id,
        by=termination.by,
        # Only a pending or effective notice is shown; withdrawn ones are history.
        status=termination.status,  # type: ignore[arg-type]  # not "withdrawn", see above
        requested_at=termination.requested_at,
        effective_on=termination.effective_on,
        terminated_at=termination.terminated_at,
    )


@router.post(
    "/v1/customers/{customer_id}/termination", status_code=202, response_model=TerminationOut
)
async def give_notice(
    body: TerminationIn,
    customer: NoticeCustomer,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> TerminationOut:
    """Give notice of termination. ``by: customer``: an access owner of the customer (or
    operator staff acting for it), effective 15 calendar days later; ``by: operator``:
    operator staff only, effective 3 months later (same day of the month, or the month's
    last day). Dates are Brussels calendar days. On ``effective_on`` the customer's
    accounts are deactivated and ``customer.terminated`` is published. 409 when notice was
    already given or the agreement has ended."""
    termination = await terminations.give_notice(session, deps, principal, customer, body.by)
    return _out(termination)


@router.get("/v1/customers/{customer_id}/termination", response_model=TerminationOut)
async def current(termination: ReadableTermination) -> TerminationOut:
    """The pending notice (``terminating``) or, for operator staff, the termination that
    took effect (``terminated``); 404 when there is none."""
    return _out(termination)


@router.delete("/v1/customers/{customer_id}/termination", status_code=204)
async def withdraw(
    termination: WithdrawableTermination,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Response:
    """Withdraw a pending notice before its effective day: operator staff any, an access
    owner the customer's own. 404 when none is pending; 409 once it has taken effect."""
    await terminations.withdraw(session, deps, principal, termination)
    return Response(status_code=204)
