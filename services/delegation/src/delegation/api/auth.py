"""Who may call what, declared once as FastAPI dependencies: a route states in its
signature what it needs (``GrantingAdministrator``, ``ReadableAssignment``...) and the
use case receives the caller already allowed, or the object already loaded.

Delegation is the portal's authority on rights, so it applies its own rules
(``delegation.domain``) here instead of asking a delegation client: the refusals keep
their ``reason`` (``other_customer``, ``not_administrator``...), 404 when the customer
is none of the caller's business, 403 when the caller is in it but not allowed.

Each dependency declares every path, query and body parameter of its route and depends
on no other authorizing dependency: FastAPI runs a dependency's sub-dependencies before
it validates that dependency's (and the route's) own parameters, and a malformed request
has always been a 422, even from an outsider who would otherwise hear 404. FastAPI reads
one request body for a route and its dependency, and the OpenAPI document is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.scopes import ServiceScope
from delegation import repository as repo
from delegation.api.schemas import (
    Action,
    AssignmentIn,
    BatchIn,
    CheckIn,
    ResourceType,
    ThirdPartyIn,
    ThirdPartyStatus,
)
from delegation.deps import Deps, DepsDep
from delegation.domain import Operator, Person, administration_refusal, requester_refusal
from delegation.domain.granting import Actor
from delegation.models import Assignment
from delegation.service.checks import Check, ResourceRef
from delegation.service.common import Administrator, raise_for, today, with_group
from servicekit.app import SessionDep
from servicekit.auth import CurrentPrincipal, Principal, principal_or_service
from servicekit.pagination import DEFAULT_LIMIT, Cursor, Limit
from servicekit.problems import Forbidden, NotFound

# -- administering a customer's rights -------------------------------------------------


async def _actor(session: AsyncSession, principal: Principal, customer_id: UUID) -> Actor | None:
    """Who is acting: operator staff, or the calling user as delegation knows them."""
    if principal.is_operator:
        return Operator(principal.subject)
    if principal.is_service:
        raise Forbidden("Services do not administer rights")
    found = await repo.person(session, principal.user_id)
    if found is None:
        return None
    return await with_group(session, found, {customer_id})


async def _administrator(
    session: AsyncSession, deps: Deps, principal: Principal, customer_id: UUID
) -> Administrator:
    """Operator staff, or an access owner or manager of the customer (directly or
    through its group [9.1]) whose rights have not ended."""
    actor = await _actor(session, principal, customer_id)
    raise_for(administration_refusal(actor, customer_id, today(deps)))
    if actor is None:  # administration_refusal refuses None already; this is for mypy
        raise NotFound("No such customer")
    return Administrator(actor=actor, by=principal.subject)


async def granting_administrator(
    customer_id: UUID,
    body: AssignmentIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Administrator:
    return await _administrator(session, deps, principal, customer_id)


GrantingAdministrator = Annotated[Administrator, Depends(granting_administrator)]


async def requesting_owner(
    customer_id: UUID,
    body: ThirdPartyIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Administrator:
    """[9.2] Operator staff or the customer's access owner: who asks for third-party
    delegations."""
    actor = await _actor(session, principal, customer_id)
    raise_for(requester_refusal(actor, customer_id, today(deps)))
    if actor is None:  # requester_refusal refuses None already; this is for mypy
        raise NotFound("No such customer")
    return Administrator(actor=actor, by=principal.subject)


RequestingOwner = Annotated[Administrator, Depends(requesting_owner)]


# Identity reads a user's current assignments (its ``/v1/me``) with its service token.
AssignmentsReader = Annotated[
    Principal, Depends(principal_or_service(ServiceScope.ASSIGNMENTS_READ))
]
# Every service asks the check API with its service token.
RightsAsker = Annotated[Principal, Depends(principal_or_service(ServiceScope.RIGHTS_CHECK))]


async def _may_read(
    session: AsyncSession, deps: Deps, principal: Principal, customer_id: UUID
) -> None:
    """Who holds what in a customer: its administrators, operator staff, and (only where
    the route admits their scope) services."""
    if not principal.is_service:
        await _administrator(session, deps, principal, customer_id)


@dataclass(frozen=True)
class AssignmentListing:
    customer_id: UUID
    limit: int
    cursor: str | None
    user_id: UUID | None
    include_revoked: bool


async def readable_assignments(
    customer_id: UUID,
    principal: AssignmentsReader,
    session: SessionDep,
    deps: DepsDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    user_id: UUID | None = Query(default=None),
    include_revoked: bool = Query(default=False),
) -> AssignmentListing:
    await _may_read(session, deps, principal, customer_id)
    return AssignmentListing(customer_id, limit, cursor, user_id, include_revoked)


ReadableAssignments = Annotated[AssignmentListing, Depends(readable_assignments)]


@dataclass(frozen=True)
class DelegationListing:
    customer_id: UUID
    status: str | None
    limit: int
    cursor: str | None


async def readable_delegations(
    customer_id: UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
    status: ThirdPartyStatus | None = Query(default=None),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> DelegationListing:
    await _may_read(session, deps, principal, customer_id)
    return DelegationListing(customer_id, status, limit, cursor)


ReadableDelegations = Annotated[DelegationListing, Depends(readable_delegations)]


async def readable_assignment(
    customer_id: UUID,
    assignment_id: UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> Assignment:
    await _may_read(session, deps, principal, customer_id)
    return await _assignment_of(session, customer_id, assignment_id)


ReadableAssignment = Annotated[Assignment, Depends(readable_assignment)]


@dataclass(frozen=True)
class AdministeredAssignment:
    """An assignment of a customer the caller administers; what they may revoke in it
    is the domain's rule (``check_revoke``), applied by the use case."""

    admin: Administrator
    row: Assignment


async def revocable_assignment(
    customer_id: UUID,
    assignment_id: UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    deps: DepsDep,
) -> AdministeredAssignment:
    admin = await _administrator(session, deps, principal, customer_id)
    return AdministeredAssignment(admin, await _assignment_of(session, customer_id, assignment_id))


RevocableAssignment = Annotated[AdministeredAssignment, Depends(revocable_assignment)]


async def _assignment_of(
    session: AsyncSession, customer_id: UUID, assignment_id: UUID
) -> Assignment:
    row = await repo.get_assignment(session, assignment_id)
    if row is None or row.customer_id != customer_id:
        raise NotFound("No such assignment")
    return row


# -- asking the check API ----------------------------------------------------------------


async def may_ask_about(
    session: AsyncSession, deps: Deps, principal: Principal, subjects: set[UUID]
) -> None:
    """A user may ask about themselves, access owners and managers about the users of
    the customers they administer; operator staff and services about anyone."""
    if principal.is_operator or principal.is_service:
        return
    caller_id = principal.user_id
    others = subjects - {caller_id}
    if not others:
        return
    found = await deps.projection.people(session, others | {caller_id})
    caller = found.get(caller_id)
    if caller is None or not caller.can_hold_rights(today(deps)):
        raise Forbidden("You may only ask about yourself")

    def customers_of(person: Person) -> set[UUID]:
        # Their own customer, and those where they hold rights (a third party's).
        return {person.customer_id} | {g.customer_id for g in person.grants}

    subjects_found = [found.get(s) for s in others]
    wanted = set().union(*(customers_of(p) for p in subjects_found if p is not None))
    caller = await with_group(session, caller, wanted)
    for person in subjects_found:
        if person is None or not any(
            caller.administers(c) is not None for c in customers_of(person)
        ):
            raise Forbidden("You may only ask about yourself or users of customers you administer")


def check_of(body: CheckIn) -> Check:
    r = body.resource
    return Check(
        subject=body.subject,
        action=body.action,
        resource=ResourceRef(
            type=r.type,
            id=r.id,
            customer_id=r.customer_id,
            billing_account_id=r.billing_account_id,
            sim_id=r.sim_id,
        ),
    )


async def asked_check(
    body: CheckIn, principal: RightsAsker, session: SessionDep, deps: DepsDep
) -> Check:
    await may_ask_about(session, deps, principal, {body.subject})
    return check_of(body)


AskedCheck = Annotated[Check, Depends(asked_check)]


async def asked_batch(
    body: BatchIn, principal: RightsAsker, session: SessionDep, deps: DepsDep
) -> list[Check]:
    """The whole batch is refused (403) when one subject is out of the caller's reach."""
    await may_ask_about(session, deps, principal, {c.subject for c in body.checks})
    return [check_of(c) for c in body.checks]


AskedBatch = Annotated[list[Check], Depends(asked_batch)]


@dataclass(frozen=True)
class ResourcesQuestion:
    user_id: UUID
    type: str
    action: str
    # Asked by an administrator about someone else: only the customers it administers.
    only_customers: frozenset[UUID] | None = None


async def asked_resources(
    user_id: UUID,
    principal: RightsAsker,
    session: SessionDep,
    deps: DepsDep,
    type: ResourceType = Query(),
    action: Action = Query(),
) -> ResourcesQuestion:
    await may_ask_about(session, deps, principal, {user_id})
    only = None
    if principal.kind == "user" and principal.user_id != user_id:
        only = await _administered_among(session, deps, principal, user_id)
    return ResourcesQuestion(user_id, type, action, only)


async def _administered_among(
    session: AsyncSession, deps: Deps, principal: Principal, user_id: UUID
) -> frozenset[UUID]:
    """The customers of ``user_id`` that the calling administrator administers: an
    administrator learns what a user may see in those customers, never elsewhere."""
    found = await repo.people(session, {user_id, principal.user_id})
    subject, caller = found.get(user_id), found.get(principal.user_id)
    if subject is None or caller is None:
        return frozenset()
    theirs = {subject.customer_id} | {g.customer_id for g in subject.grants}
    caller = await with_group(session, caller, theirs)
    return frozenset(c for c in theirs if caller.administers(c) is not None)


AskedResources = Annotated[ResourcesQuestion, Depends(asked_resources)]
