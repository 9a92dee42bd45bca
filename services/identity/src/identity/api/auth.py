"""Who may act on what, declared once: dependencies that load the object a route acts on
and refuse the caller who may not (the portal's 404/403 rule, ``delegation.require``).

Routes state what they need (``customer: AdministeredCustomer``) and hand the loaded,
authorized object to the use case; use cases do not authorize.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.actions import Action
from identity import repository as repo
from identity.deps import Deps, DepsDep
from identity.domain import ACCESS_OWNER, NoticeRefusal, notice_refusal, withdrawal_refusal
from identity.models import Customer, Termination, User
from identity.schemas import InviteIn, TerminationIn
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, Principal
from servicekit.delegation_client import Resource
from servicekit.problems import Conflict, Forbidden, NotFound

NO_SUCH_CUSTOMER = "No such customer"
NO_TERMINATION = "The customer has no pending or effective termination"


def _customer(customer_id: UUID) -> Resource:
    return Resource("customer", customer_id, customer_id)


# -- the users of a customer -----------------------------------------------------------


async def administered_customer(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Customer:
    """An active customer whose users the caller administers (``user.manage``)."""
    # Ask delegation first: an outsider gets the same 404 whether the customer exists.
    await deps.delegation.require(principal, _customer(customer_id), Action.USER_MANAGE)
    customer = await repo.get_customer(session, customer_id)
    if customer is None or customer.status != "active":
        raise NotFound(NO_SUCH_CUSTOMER)
    return customer


AdministeredCustomer = Annotated[Customer, Depends(administered_customer)]


async def inviting_customer(
    customer: AdministeredCustomer, body: InviteIn, principal: CurrentPrincipal, deps: DepsDep
) -> Customer:
    """A customer the caller administers, and, for an access owner, one whose access
    owners the caller may appoint: delegation's answer on the caller's assignments now,
    never a profile identity stored when the caller was invited."""
    if body.profile == ACCESS_OWNER:
        await deps.delegation.require(
            principal, _customer(customer.id), Action.ACCESS_OWNER_APPOINT, known=True
        )
    return customer


InvitingCustomer = Annotated[Customer, Depends(inviting_customer)]


async def managed_user(
    user_id: UUID,
    customer: AdministeredCustomer,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> User:
    """A user of an administered customer whom the caller may remove, locked: it is
    about to change. Delegation decides with the target user as the resource (a manager
    not on an access owner, nobody on the customer's last access owner)."""
    user = await repo.get_user(session, user_id, for_update=True)
    if user is None or user.customer_id != customer.id:
        raise NotFound("No such user")
    if principal.subject == str(user.id):
        raise Conflict("You cannot remove yourself; ask another administrator")
    if user.status != "deactivated":
        await deps.delegation.require(
            principal, Resource("user", user.id, customer.id), Action.USER_REMOVE, known=True
        )
    return user


ManagedUser = Annotated[User, Depends(managed_user)]


# -- the termination of a customer's agreement -----------------------------------------


async def _terminable_customer(
    session: AsyncSession,
    deps: Deps,
    principal: Principal,
    customer_id: UUID,
    *,
    lock: bool = False,
) -> tuple[Customer, str | None]:
    """The customer whose termination the caller may see, and the caller's profile in it.

    Operator staff see every customer, terminated ones too. A user must administer the
    customer (delegation's ``user.manage``); anyone else gets the same 404 whether the
    customer exists or not. The customer's own users know it exists: they get a 403.
    Services neither give nor withdraw notice.
    """
    if principal.is_service:
        raise Forbidden(NoticeRefusal.NOT_FOR_SERVICES.value)
    if not principal.is_operator:
        await deps.delegation.require(
            principal,
            _customer(customer_id),
            Action.USER_MANAGE,
            known=principal.customer_id == customer_id,
        )
    customer = await repo.get_customer(session, customer_id, for_update=lock)
    if customer is None or (customer.status != "active" and not principal.is_operator):
        raise NotFound(NO_SUCH_CUSTOMER)
    if principal.is_operator:
        return customer, None
    # Delegation's answer on the actor's assignments now (one truth), not a profile
    # identity stored when the actor was invited.
    decision = await deps.delegation.check(
        principal.subject, Action.CUSTOMER_TERMINATE, _customer(customer_id)
    )
    return customer, ACCESS_OWNER if decision.allowed else None


def _refuse(refusal: NoticeRefusal | None) -> None:
    if refusal is not None:
        raise Forbidden(refusal.value)


async def customer_to_give_notice(
    customer_id: UUID,
    body: TerminationIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Customer:
    """The customer the caller may give notice ``body.by`` for, locked so the use case's
    checks and the job's "terminated" do not interleave."""
    if body.by == "operator" and not principal.is_operator:
        # Nothing about the customer is looked at: the answer reveals nothing.
        _refuse(notice_refusal(body.by, actor_kind=principal.kind, actor_profile=None))
    customer, profile = await _terminable_customer(session, deps, principal, customer_id, lock=True)
    _refuse(notice_refusal(body.by, actor_kind=principal.kind, actor_profile=profile))
    return customer


NoticeCustomer = Annotated[Customer, Depends(customer_to_give_notice)]


async def readable_termination(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Termination:
    """The pending notice, or (operator staff) the termination that took effect."""
    await _terminable_customer(session, deps, principal, customer_id)
    termination = await repo.current_termination(session, customer_id)
    if termination is None:
        raise NotFound(NO_TERMINATION)
    return termination


ReadableTermination = Annotated[Termination, Depends(readable_termination)]


async def withdrawable_termination(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Termination:
    """A notice the caller may withdraw: operator staff any; an access owner only the
    customer's own notice."""
    _, profile = await _terminable_customer(session, deps, principal, customer_id)
    termination = await repo.current_termination(session, customer_id)
    if termination is None:
        raise NotFound(NO_TERMINATION)
    _refuse(
        withdrawal_refusal(
            termination.by,
            actor_kind=principal.kind,
            actor_profile=profile,
        )
    )
    return termination


WithdrawableTermination = Annotated[Termination, Depends(withdrawable_termination)]


# -- the audit trail of a customer ------------------------------------------------------


async def audited_customer(
    customer_id: UUID, principal: CurrentPrincipal, session: SessionDep, deps: DepsDep
) -> Customer:
    """A customer whose audit trail the caller may read: its access owner (delegation's
    ``audit.read``), or operator staff. The customer's own users get a 403, anyone else
    the same 404 whether the customer exists or not; services never read it."""
    if principal.is_service:
        raise Forbidden("The audit trail is for the customer's access owner")
    await deps.delegation.require(
        principal,
        _customer(customer_id),
        Action.AUDIT_READ,
        known=principal.customer_id == customer_id,
    )
    customer = await repo.get_customer(session, customer_id)
    if customer is None or (customer.status != "active" and not principal.is_operator):
        raise NotFound(NO_SUCH_CUSTOMER)
    return customer


AuditedCustomer = Annotated[Customer, Depends(audited_customer)]
